import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/**
 * The stack's last line against orphans: a tiny shell process, outside the stack's process group,
 * that waits for the stack to be gone however it went (Ctrl-C, SIGKILL, a closed terminal). Its
 * services then stop by themselves (their IPC channel closed, their parent changed); any group of
 * theirs still alive after `graceSeconds` (a service stuck in a native call, an ffmpeg or pacat it
 * left behind) is killed with SIGKILL, and the reaper exits. It reads the groups from `groupsFile`,
 * which the stack rewrites whenever it starts a service, so restarted services are covered too.
 * About a megabyte: no Node, no modules.
 */
const SCRIPT = `
stack=$1; groups=$2; grace=$3
while kill -0 "$stack" 2>/dev/null; do sleep 0.2; done
left=$((grace * 5))
while [ "$left" -gt 0 ]; do
  alive=0
  for group in $(cat "$groups" 2>/dev/null); do kill -0 -"$group" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && exit 0
  sleep 0.2
  left=$((left - 1))
done
for group in $(cat "$groups" 2>/dev/null); do kill -KILL -"$group" 2>/dev/null; done
exit 0
`;

export interface Reaper {
  /** The process groups of the services now running (each service leads its own). */
  watch(groups: number[]): void;
}

export function startReaper(groupsFile: string, graceSeconds: number): Reaper {
  writeFileSync(groupsFile, '');
  const reaper = spawn('/bin/sh', ['-c', SCRIPT, 'sightline-reaper', String(process.pid), groupsFile, String(graceSeconds)], {
    detached: true,
    stdio: 'ignore',
  });
  reaper.on('error', () => {});
  reaper.unref();
  return {
    watch(groups) {
      writeFileSync(groupsFile, `${groups.join('\n')}\n`);
    },
  };
}
