import type { FastifyReply } from 'fastify'

/**
 * Sends `value` as JSON with exactly `contentType`. Fastify appends "; charset=utf-8" to a JSON
 * type when the payload is a string or an object, but not to a Buffer; oras compares the referrers
 * Content-Type byte for byte, and the spec wants no parameters on it.
 */
export function sendJson(reply: FastifyReply, value: unknown, contentType = 'application/json'): FastifyReply {
  return reply.header('Content-Type', contentType).send(Buffer.from(JSON.stringify(value)))
}
