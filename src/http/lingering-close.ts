import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'

/** How long a refused body is read (and dropped) after the answer before the connection is cut. */
const LINGER_MS = 2000

/**
 * A request refused before its body was read is answered with `Connection: close`. Closing a
 * socket with unread bytes makes the kernel send a reset, and a client still sending then meets
 * EPIPE or ECONNRESET before it reads the answer. So, as Go's net/http and nginx's lingering_close
 * do: after the answer, close our side only (FIN), keep reading and dropping the rest of the body,
 * and close when the client has sent it all, or after LINGER_MS at most.
 */
export function lingerAfterAnswer(request: IncomingMessage): void {
  // A request its client already left has no socket any more.
  const socket = request.socket as (Socket & { destroySoon?: () => void }) | null
  if (socket === null || socket.destroyed || request.complete) return
  // Node ends a `Connection: close` exchange with destroySoon(): FIN, then destroy at once.
  socket.destroySoon = () => {
    socket.end()
    const done = (): void => { clearTimeout(timer); socket.destroy() }
    const timer = setTimeout(done, LINGER_MS)
    timer.unref()
    socket.once('end', done)
    // The request may have been paused or unpiped by its handler: its bytes still have to be read.
    request.unpipe()
    request.removeAllListeners('data')
    request.resume()
    request.once('end', done)
  }
}
