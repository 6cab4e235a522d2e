// Debian's nginx-light as the load balancer in front of several Wharf nodes: strict round-robin
// (each request to the next node, whatever the connection), bodies streamed both ways (no request
// or response buffering, no size limit), the client's Host passed on, as an operator would
// configure it (README "Scaling out").
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Test } from 'tap'
import { freeLowPort } from './radosgw.js'
import { waitFor } from './wait.js'

export const NGINX_BIN = process.env.WHARF_NGINX_BIN ?? '/usr/sbin/nginx'

export interface Nginx {
  /** http://127.0.0.1:PORT */
  readonly url: string
  /** 127.0.0.1:PORT */
  readonly address: string
  /** The end of nginx's error log, for failure messages. */
  logs(): Promise<string>
  /** The master's and its workers' PIDs (for CPU accounting). */
  pids(): number[]
  /** How many requests each upstream (host:port) answered so far, from the access log. */
  upstreamCounts(): Promise<Map<string, number>>
  stop(): Promise<void>
}

/** Why nginx cannot run here, or undefined when it can. */
export function nginxMissing(): string | undefined {
  return existsSync(NGINX_BIN) ? undefined : `${NGINX_BIN} is not installed (apt-get install nginx-light)`
}

export interface NginxOptions {
  /**
   * Connections to the upstreams kept open and reused (default true). False: a connection per
   * request, so that the worker processes behind one port (`serve --workers`) each get their turn.
   */
  readonly upstreamKeepalive?: boolean
}

/** The configuration: one worker, upstream keep-alive (unless turned off), everything streamed. */
export function nginxConfig(dir: string, port: number, upstreams: readonly string[], options: NginxOptions = {}): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  log_format upstream '$upstream_addr';
  access_log ${dir}/upstream.log upstream;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream wharf {
${upstreams.map((address) => `    server ${address} max_fails=0;`).join('\n')}
${options.upstreamKeepalive === false ? '' : '    keepalive 32;'}
  }
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location / {
      proxy_pass http://wharf;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_read_timeout 600s;
      proxy_send_timeout 600s;
    }
  }
}
`
}

/** Starts nginx in front of `upstreams` (host:port each) and waits until it answers. */
export async function startNginx(upstreams: readonly string[], options: NginxOptions = {}): Promise<Nginx> {
  const dir = await mkdtemp(path.join(tmpdir(), 'wharf-nginx-'))
  const port = await freeLowPort()
  const file = path.join(dir, 'nginx.conf')
  await writeFile(file, nginxConfig(dir, port, upstreams, options))
  const child: ChildProcess = spawn(NGINX_BIN, ['-c', file, '-p', dir, '-e', path.join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const logs = async (): Promise<string> => `${stderr}${await readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '')}`.split('\n').slice(-40).join('\n')
  const pids = (): number[] => {
    const master = child.pid
    if (master === undefined) return []
    let children: number[] = []
    try { children = readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number) } catch { /* gone */ }
    return [master, ...children]
  }
  const upstreamCounts = async (): Promise<Map<string, number>> => {
    const counts = new Map<string, number>()
    // A retried request lists every upstream it tried ("a, b"); each counts.
    for (const address of (await readFile(path.join(dir, 'upstream.log'), 'utf8').catch(() => '')).split(/[\s,]+/)) {
      if (address !== '' && address !== '-') counts.set(address, (counts.get(address) ?? 0) + 1)
    }
    return counts
  }
  const stop = async (): Promise<void> => {
    // SIGTERM is nginx's fast shutdown; the master waits for its worker.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
    await rm(dir, { recursive: true, force: true })
  }
  const url = `http://127.0.0.1:${port}`
  try {
    await waitFor('nginx listening', async () => {
      if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${await logs()}`)
      return fetch(`${url}/_nginx_probe`).then(() => true, () => false)
    }, 10_000, 50)
  } catch (err) {
    await stop()
    throw err
  }
  return { url, address: `127.0.0.1:${port}`, logs, pids, upstreamCounts, stop }
}

/** startNginx, stopped in `t`'s teardown. */
export async function nginxForTest(t: Test, upstreams: readonly string[], options: NginxOptions = {}): Promise<Nginx> {
  const nginx = await startNginx(upstreams, options)
  t.teardown(() => nginx.stop())
  return nginx
}
