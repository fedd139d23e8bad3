const missing = require('lambent-no-such-module');

exports.handler = async () => missing;
