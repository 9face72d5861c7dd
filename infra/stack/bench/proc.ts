import { readdirSync, readFileSync } from 'node:fs';

/** Memory of one process (or summed over several), in bytes, from /proc. */
export interface Memory {
  rss: number;
  /** RssAnon: heap, stacks and other private memory. */
  anon: number;
  /** RssFile + RssShmem: mapped code and files, shared with other processes mapping the same ones. */
  file: number;
  /** Proportional set size: shared pages split between the processes that map them. */
  pss: number;
  processes: number;
}

function kB(text: string, key: string): number {
  const match = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
  return match ? Number(match[1]) * 1024 : 0;
}

/** The memory of process `pid`, or null once it is gone. */
export function readMemory(pid: number): Memory | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    let pss = 0;
    try {
      pss = kB(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
    } catch {
      // smaps_rollup needs the same user (it is); a kernel without it reports 0
    }
    return { rss: kB(status, 'VmRSS'), anon: kB(status, 'RssAnon'), file: kB(status, 'RssFile') + kB(status, 'RssShmem'), pss, processes: 1 };
  } catch {
    return null;
  }
}

/** `pid` and every process descended from it (ffmpeg under capture, a voice under tts). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const p = Number(entry);
    if (!Number.isInteger(p)) continue;
    try {
      // The command name (field 2) may hold spaces and parentheses: the parent is after its last ')'.
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), p]);
    } catch {
      // gone
    }
  }
  const tree: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    tree.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return tree;
}
