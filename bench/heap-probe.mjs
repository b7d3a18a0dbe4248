// Preloaded into the process under soak (`node --expose-gc --import bench/heap-probe.mjs …`):
// on SIGUSR2 it collects garbage (when --expose-gc is given) and writes process.memoryUsage()
// with the V8 heap's committed physical size, and the event loop's delay since the last
// reading as JSON to $SOAKP_BENCH_HEAP_FILE.
// Nothing else; soakp's own code is not touched.
import { renameSync, writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

const file = process.env.SOAKP_BENCH_HEAP_FILE;
let seq = 0;
if (file) {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  process.on('SIGUSR2', () => {
    const loop = { loopDelayP99Ms: delay.percentile(99) / 1e6, loopDelayMaxMs: delay.max / 1e6 };
    delay.reset();
    globalThis.gc?.();
    const m = process.memoryUsage();
    // Committed pages of every V8 space: what the heap holds in RSS, used or not.
    const heapPhysical = getHeapStatistics().total_physical_size;
    writeFileSync(`${file}.tmp`, JSON.stringify({ seq: ++seq, gc: typeof globalThis.gc === 'function', ...m, heapPhysical, ...loop }));
    renameSync(`${file}.tmp`, file); // readers never see half a file
  });
}
