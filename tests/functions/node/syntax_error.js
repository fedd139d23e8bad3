exports.handler = async (event) => {
  return { broken: true
};
