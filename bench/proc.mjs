// Readings from /proc for the process under test: CPU time, memory, descriptors, sockets.
// A proxy may be several processes (nginx: master + worker), so figures are summed over the
// process and its descendants. Linux only.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

let clkTck;
/** Clock ticks per second, the unit of utime/stime in /proc/<pid>/stat (`getconf CLK_TCK`). */
export function clockTicks() {
  clkTck ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return clkTck;
}

function statFields(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name is in parentheses and may contain spaces; fields follow the last ')'.
  return text.slice(text.lastIndexOf(')') + 2).split(' '); // [0] = state (field 3)
}

/** The process and all its descendants (nginx's master and worker). */
export function processTree(pid) {
  const parentOf = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      parentOf.set(Number(name), Number(statFields(name)[1]));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length && i < 10_000; i++) {
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/** utime + stime of the process (all its threads), in seconds. */
export function cpuSeconds(pid) {
  const f = statFields(pid);
  return (Number(f[11]) + Number(f[12])) / clockTicks();
}

export function treeCpuSeconds(pid) {
  return processTree(pid).reduce((sum, p) => sum + safe(() => cpuSeconds(p), 0), 0);
}

/** Waits (at most 5 s) until the process tree uses under one clock tick per 250 ms; returns its CPU seconds then. */
export async function quiet(pid) {
  let last = treeCpuSeconds(pid);
  for (let i = 0, calm = 0; i < 20 && calm < 2; i++) {
    await sleep(250);
    const now = treeCpuSeconds(pid);
    calm = now - last <= 0.0101 ? calm + 1 : 0;
    last = now;
  }
  return last;
}

function statusKb(pid, field) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m ? Number(m[1]) : 0;
}

/** Resident set size now and its peak (VmHWM), in MB, summed over the tree. */
export function memoryMb(pid) {
  let rss = 0;
  let hwm = 0;
  for (const p of processTree(pid)) {
    rss += safe(() => statusKb(p, 'VmRSS'), 0);
    hwm += safe(() => statusKb(p, 'VmHWM'), 0);
  }
  return { rssMb: rss / 1024, peakRssMb: hwm / 1024 };
}

/**
 * One process's resident memory by kind of mapping, from /proc/<pid>/smaps: malloc's main arena
 * (`[heap]`), file-backed (the node binary's and libraries' code), and other anonymous memory
 * (the V8 heap, threads' malloc arenas, large allocations).
 */
export function mappingsMb(pid) {
  const kb = { brk: 0, file: 0, anon: 0 };
  let kind = 'anon';
  for (const line of safe(() => readFileSync(`/proc/${pid}/smaps`, 'utf8'), '').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (m) kind = m[2] === '[heap]' ? 'brk' : m[1] !== '0' ? 'file' : 'anon';
    else if (line.startsWith('Rss:')) kb[kind] += Number(line.split(/\s+/)[1]);
  }
  return { brkMb: kb.brk / 1024, fileMb: kb.file / 1024, anonMb: kb.anon / 1024 };
}

/** Open file descriptors and how many of them are sockets, summed over the tree. */
export function descriptors(pid) {
  let fds = 0;
  let sockets = 0;
  for (const p of processTree(pid)) {
    let names = [];
    try {
      names = readdirSync(`/proc/${p}/fd`);
    } catch {
      continue;
    }
    fds += names.length;
    for (const n of names) if (safe(() => readlinkSync(`/proc/${p}/fd/${n}`), '').startsWith('socket:')) sockets++;
  }
  return { fds, sockets };
}

function safe(fn, fallback) {
  try {
    return fn();
  } catch {
    return fallback;
  }
}

/** Whether a program is on the PATH (or an absolute path that exists). */
export function hasProgram(name) {
  try {
    execFileSync('sh', ['-c', `command -v "$0"`, name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Spawns `cmd args` pinned to `cpu` with taskset when it is there (taskset execs, so the pid is the program's). */
export function spawnPinned(cpu, cmd, args, options = {}) {
  const pinned = cpu !== undefined && hasProgram('taskset');
  return pinned ? spawn('taskset', ['-c', String(cpu), cmd, ...args], options) : spawn(cmd, args, options);
}

/** A port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Pins every thread of this process to `cpu` (when taskset is there); true when pinned. */
export function pinSelf(cpu) {
  if (!hasProgram('taskset')) return false;
  execFileSync('taskset', ['-a', '-pc', String(cpu), String(process.pid)], { stdio: 'ignore' });
  return true;
}

/** Per CPU, from /proc/stat, in seconds: time in processes (user, nice, system) and time stolen by the hypervisor. */
export function coreTimes() {
  const out = [];
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = line.match(/^cpu(\d+) (.*)$/);
    if (!m) continue;
    const [user, nice, system, , , , , steal] = m[2].trim().split(/\s+/).map(Number);
    out[Number(m[1])] = { busy: (user + nice + system) / clockTicks(), steal: (steal || 0) / clockTicks() };
  }
  return out;
}

/**
 * CPU seconds used so far by everything that is not this bench (this process, its children,
 * and children it already reaped, which /proc counts in its cutime/cstime), plus stolen time.
 * Its growth over a measurement is the noise from the rest of the machine.
 */
export function foreignSeconds() {
  const cores = coreTimes();
  const total = cores.reduce((n, c) => n + c.busy + c.steal, 0);
  const me = statFields(process.pid);
  const reaped = (Number(me[13]) + Number(me[14])) / clockTicks();
  return total - treeCpuSeconds(process.pid) - reaped;
}
