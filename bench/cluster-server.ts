/**
 * Several nodes of one server kind behind nginx (round-robin, streaming, test/support/nginx.ts), on
 * one shared backend: Wharf nodes with one config file (one bucket, one PostgreSQL database), or
 * reference registries with one S3 storage section (one bucket, one http.secret). The figures are
 * the nodes' together: CPU summed, peak RSS summed (they run at once). nginx's own CPU is reported
 * apart, since it costs both kinds alike.
 */
import { startNginx, type Nginx } from '../test/support/nginx.js'
import type { Backend } from './backend.js'
import { processCpuSeconds, startReferenceServer, startWharfServer, type BenchServer, type ServerKind } from './servers.js'

export interface ClusterBenchServer extends BenchServer {
  readonly nodes: readonly BenchServer[]
  /** nginx's CPU (master and worker), seconds. */
  balancerCpuSeconds(): number
}

/** Starts `count` nodes of `kind` on `backend` (which must be shared storage: s3) and nginx in front. */
export async function startClusterServer(kind: ServerKind, count: number, backend: Backend): Promise<ClusterBenchServer> {
  const nodes: BenchServer[] = []
  let nginx: Nginx | undefined
  const stopAll = async (): Promise<void> => {
    await nginx?.stop()
    await Promise.allSettled(nodes.map((node) => node.stop()))
  }
  try {
    if (kind === 'reference') {
      const storage = await backend.referenceConfig()
      if (storage === undefined) throw new Error('several reference nodes need shared storage (--backend s3)')
      for (let i = 0; i < count; i++) nodes.push(await startReferenceServer({ storage }))
    } else {
      const configFile = await backend.wharfConfig()
      if (configFile === undefined || backend.name !== 's3+postgres') throw new Error('several Wharf nodes need --backend s3 --metadata postgres')
      for (let i = 0; i < count; i++) nodes.push(await startWharfServer({ configFile }))
    }
    nginx = await startNginx(nodes.map((node) => new URL(node.url).host))
  } catch (error) {
    await stopAll()
    throw error
  }
  const balancer = nginx
  const sum = (read: (node: BenchServer) => number): number => nodes.reduce((total, node) => total + read(node), 0)
  return {
    kind, url: balancer.url, storage: nodes[0]!.storage, logFile: nodes[0]!.logFile, nodes,
    get pid() { return nodes[0]!.pid },
    cpuSeconds: () => sum((node) => node.cpuSeconds()),
    peakRssBytes: () => sum((node) => node.peakRssBytes()),
    rssBytes: () => sum((node) => node.rssBytes()),
    alive: () => nodes.every((node) => node.alive()),
    balancerCpuSeconds: () => balancer.pids().reduce((total, pid) => { try { return total + processCpuSeconds(pid) } catch { return total } }, 0),
    async restart() { throw new Error('a restart is measured on one node (run without --nodes)') },
    stop: stopAll,
  }
}
