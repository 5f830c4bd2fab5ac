// Which process serves a port: the child itself or one of its descendants (a wrapper may fork).
// Linux /proc only.
import { readdir, readFile, readlink } from 'node:fs/promises'

/** The pid that holds the listening socket on 127.0.0.1:port among rootPid and its descendants. */
export async function listeningPid(rootPid: number, port: number): Promise<number | null> {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0')
  const inodes = new Set<string>()
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const table = await readFile(file, 'utf8').catch(() => '')
    for (const line of table.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields[1]?.endsWith(`:${portHex}`) && fields[3] === '0A' && fields[9]) inodes.add(fields[9])
    }
  }
  // The child and all its descendants, from /proc/<pid>/stat parent pids.
  const parents = new Map<number, number>()
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => null)
    if (!stat) continue
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    parents.set(Number(entry), ppid)
  }
  const family = [rootPid]
  for (let i = 0; i < family.length; i++) {
    for (const [pid, ppid] of parents) if (ppid === family[i]) family.push(pid)
  }
  for (const pid of family) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])
    for (const fd of fds) {
      const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
      const match = /^socket:\[(\d+)\]$/.exec(link)
      if (match && inodes.has(match[1]!)) return pid
    }
  }
  return null
}
