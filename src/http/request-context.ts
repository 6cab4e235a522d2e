import type { FastifyReply, FastifyRequest } from 'fastify'
import { certificateName } from './tls.js'
import type { Credentials } from '../auth/parts.js'
import { ANONYMOUS, type Caller, type RequestContext } from '../context/request-context.js'

/**
 * The context of one request: Fastify's request id (also in its log lines and X-Request-Id), the
 * caller, and a signal aborted when the connection closes before the response was sent.
 */
export function requestContext(request: FastifyRequest, reply: FastifyReply, caller: Caller = ANONYMOUS): RequestContext {
  const response = reply.raw
  // The controller is made on first use of the signal: most requests never look at it.
  let controller: AbortController | undefined
  let gone = false
  response.once('close', () => {
    // 'close' also follows a response sent in full; only an early close means the client left.
    if (response.writableFinished) return
    gone = true
    controller?.abort(clientGone())
  })
  const userAgent = request.headers['user-agent']
  const host = request.headers.host
  return {
    caller, requestId: request.id,
    origin: { address: request.ip, method: request.method, ...(host !== undefined ? { host } : {}), ...(userAgent !== undefined ? { userAgent } : {}) },
    get signal(): AbortSignal {
      if (controller === undefined) {
        controller = new AbortController()
        if (gone) controller.abort(clientGone())
      }
      return controller.signal
    },
  }
}

/** What the request presents: its Authorization header, a verified client certificate's name, its address. */
export function credentialsOf(request: FastifyRequest): Credentials {
  const authorization = request.headers.authorization
  return { authorization, certificateName: certificateName(request), address: request.ip }
}

/** Coded like Node's own aborts, so the error handler answers (to nobody) 400 rather than logging a server error. */
function clientGone(): Error {
  return Object.assign(new Error('the client closed the connection'), { name: 'AbortError', code: 'ABORT_ERR' })
}

/**
 * `ctx` with a signal that also aborts when `signal` does (a body cut off for its rate, say); the
 * first reason wins. Combined on first use only: AbortSignal.any is dear, and most requests never ask.
 */
export function withSignal(ctx: RequestContext, signal: AbortSignal | (() => AbortSignal)): RequestContext {
  let combined: AbortSignal | undefined
  return {
    caller: ctx.caller, requestId: ctx.requestId, ...(ctx.origin !== undefined ? { origin: ctx.origin } : {}),
    get signal(): AbortSignal {
      combined ??= AbortSignal.any([ctx.signal, typeof signal === 'function' ? signal() : signal])
      return combined
    },
  }
}
