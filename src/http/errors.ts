import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SoakpError, errorAnswer, isSoakpError, rawErrorAnswer } from '../shared/index.js';

/**
 * The control plane's errors as answers, written by errorAnswer like the data plane's. Our own errors carry their
 * status; Fastify's (bad JSON, body too large, schema) keep theirs with a safe message;
 * anything else is a 500 whose details go only to the log.
 */
export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const answer = errorAnswer(asSoakpError(error));
  if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
  if (reply.raw.headersSent) {
    reply.raw.destroy(); // mid-stream: the only honest signal left is to cut the connection
    return reply;
  }
  // A refused request whose body was not read (413, or refused before forwarding) would
  // leave the client writing into a socket nobody reads: answer, then close the connection.
  if (!request.raw.complete) reply.header('connection', 'close');
  return reply.code(answer.status).headers(answer.headers).send(answer.text);
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const answer = errorAnswer(new SoakpError('not_found', `Unknown route ${request.method} ${request.url.split('?')[0]?.slice(0, 200)}.`));
  return reply.code(answer.status).headers(answer.headers).send(answer.text);
}

function asSoakpError(error: FastifyError | Error): SoakpError {
  if (isSoakpError(error)) return error;
  const fe = error as FastifyError;
  const status = fe.statusCode ?? 500;
  if (fe.validation) return new SoakpError('invalid_request', `Invalid request body: ${error.message}`);
  if (status === 413) return new SoakpError('payload_too_large', 'The request body is too large.');
  if (status === 415) return new SoakpError('unsupported_media_type', error.message);
  if (status >= 400 && status < 500) return new SoakpError('invalid_request', error.message);
  return new SoakpError('internal_error', 'The proxy failed to handle the request.', { cause: error });
}

/**
 * Requests Node's parser refuses before Fastify sees them (smuggling shapes, NUL bytes,
 * oversized headers, slow clients): answered in OpenAI's envelope on the raw socket, which
 * is then closed — after a framing error nothing later on that connection can be trusted.
 */
export function clientErrorHandler(this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || !socket.writable) return;
  const e =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? new SoakpError('request_timeout', 'The request took too long to arrive.')
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? new SoakpError('headers_too_large', 'The request headers are too large.')
        : new SoakpError('invalid_request', 'The request is not valid HTTP/1.1.');
  this.log.debug({ code: err.code }, 'client error');
  socket.end(rawErrorAnswer(e));
}
