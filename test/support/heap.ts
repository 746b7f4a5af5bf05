// Memory a test can measure: the bytes still in use after full collections (the hostile-input
// tests compare it before and after feeding a layer, to see what the layer holds).
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Heap and array-buffer bytes in use after two full collections. */
export function heldBytes(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
