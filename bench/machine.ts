import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, open, rm } from 'node:fs/promises'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { randomPool } from './data.js'
import { runPool } from './load-client.js'

/** The machine's own limits, measured in the same run as the servers. */
export interface MachineLimits {
  sha256MBps: number
  loopbackDownloadMBps: number
  loopbackUploadMBps: number
  diskWriteFsyncMBps: number
  smallFsyncPerSec: number
}

const MB = 1e6
const MiB = 1024 * 1024

export function measureSha256(totalBytes: number): number {
  const pool = randomPool()
  const hash = createHash('sha256')
  const start = performance.now()
  for (let done = 0; done < totalBytes; done += MiB) hash.update(pool.subarray(done % pool.length, (done % pool.length) + MiB))
  hash.digest()
  return totalBytes / MB / ((performance.now() - start) / 1000)
}

async function startLoopbackServer(): Promise<{ port: number; stop: () => Promise<void> }> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'loopback-server.js')
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('loopback server did not start')), 10_000)
    createInterface({ input: child.stdout! }).once('line', (line) => { clearTimeout(timer); resolve(Number(line)) })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`loopback server exited ${code}`)) })
  })
  return {
    port,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) { resolve(); return }
      child.once('exit', () => resolve())
      child.kill('SIGTERM')
    }),
  }
}

export async function measureLoopback(streams: number, bytesPerStream: number): Promise<{ download: number; upload: number }> {
  const server = await startLoopbackServer()
  const agent = new http.Agent({ keepAlive: true, maxSockets: streams })
  const pool = randomPool()
  try {
    const download = async (): Promise<number> => {
      const start = performance.now()
      await runPool(streams, streams, () => new Promise<void>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: server.port, path: `/?bytes=${bytesPerStream}`, agent }, (response) => {
          let got = 0
          response.on('data', (chunk: Buffer) => { got += chunk.length })
          response.on('end', () => got === bytesPerStream ? resolve() : reject(new Error(`loopback: got ${got} bytes`)))
          response.on('error', reject)
        }).on('error', reject)
      }))
      return streams * bytesPerStream / MB / ((performance.now() - start) / 1000)
    }
    const upload = async (): Promise<number> => {
      const start = performance.now()
      await runPool(streams, streams, () => new Promise<void>((resolve, reject) => {
        const request = http.request({ host: '127.0.0.1', port: server.port, method: 'PUT', path: '/', agent, headers: { 'Content-Length': String(bytesPerStream) } }, (response) => {
          response.resume()
          response.on('end', () => response.statusCode === 204 ? resolve() : reject(new Error(`loopback: HTTP ${response.statusCode}`)))
        })
        request.on('error', reject)
        let sent = 0
        const pump = (): void => {
          while (sent < bytesPerStream) {
            const take = Math.min(MiB, bytesPerStream - sent)
            const offset = sent % (pool.length - MiB)
            sent += take
            if (!request.write(pool.subarray(offset, offset + take))) { request.once('drain', pump); return }
          }
          request.end()
        }
        pump()
      }))
      return streams * bytesPerStream / MB / ((performance.now() - start) / 1000)
    }
    await download() // warm-up of both processes
    return { download: await download(), upload: await upload() }
  } finally {
    agent.destroy()
    await server.stop()
  }
}

export async function measureDisk(totalBytes: number): Promise<{ sequential: number; smallFsync: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-bench-disk-'))
  const pool = randomPool()
  try {
    const file = await open(path.join(dir, 'seq'), 'w')
    const start = performance.now()
    for (let done = 0; done < totalBytes; done += MiB) {
      const offset = done % (pool.length - MiB)
      await file.write(pool, offset, Math.min(MiB, totalBytes - done))
    }
    await file.sync()
    await file.close()
    const sequential = totalBytes / MB / ((performance.now() - start) / 1000)

    const small = await open(path.join(dir, 'small'), 'w')
    const count = 200
    const smallStart = performance.now()
    for (let i = 0; i < count; i++) {
      await small.write(pool, i * 4096, 4096)
      await small.datasync()
    }
    await small.close()
    const smallFsync = count / ((performance.now() - smallStart) / 1000)
    return { sequential, smallFsync }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

export async function measureMachine(quick: boolean): Promise<MachineLimits> {
  const sha256MBps = measureSha256(quick ? 256 * MiB : 1024 * MiB)
  const loopback = await measureLoopback(4, quick ? 64 * MiB : 512 * MiB)
  const disk = await measureDisk(quick ? 256 * MiB : 1024 * MiB)
  return {
    sha256MBps,
    loopbackDownloadMBps: loopback.download,
    loopbackUploadMBps: loopback.upload,
    diskWriteFsyncMBps: disk.sequential,
    smallFsyncPerSec: disk.smallFsync,
  }
}
