// Benchmark function: echoes its event; with {"sleep_ms": N} it sleeps N ms and returns its
// environment id (the log stream name, unique per execution environment).
export const handler = async (event) => {
  if (event && typeof event === 'object' && event.sleep_ms) {
    await new Promise((resolve) => setTimeout(resolve, event.sleep_ms));
    return { env: process.env.AWS_LAMBDA_LOG_STREAM_NAME || '' };
  }
  return event;
};
