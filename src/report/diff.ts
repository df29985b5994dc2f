/**
 * A small line diff for config.pbtxt files (a few dozen lines). The `diff` npm package is not
 * a dependency of tanalyze, and adding one for this is not worth it: a longest-common-
 * subsequence table over lines is a screenful of code and exact for inputs this size.
 */

export type DiffOp = ' ' | '-' | '+';

export interface DiffLine {
  op: DiffOp;
  line: string;
}

/** Above this many table cells (lines × lines) the LCS table is skipped (see lineDiff). */
const MAX_CELLS = 4_000_000;

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * The lines of `a` and `b` as kept (' '), removed from a ('-') and added in b ('+'), in order;
 * removals come before additions within a changed block. Common leading and trailing lines are
 * matched first; inputs too large for the LCS table show their middles as all removed, then all added.
 */
export function lineDiff(a: string, b: string): DiffLine[] {
  const x = splitLines(a);
  const y = splitLines(b);
  let start = 0;
  while (start < x.length && start < y.length && x[start] === y[start]) start++;
  let endX = x.length;
  let endY = y.length;
  while (endX > start && endY > start && x[endX - 1] === y[endY - 1]) {
    endX--;
    endY--;
  }
  const out: DiffLine[] = x.slice(0, start).map((line) => ({ op: ' ' as const, line }));
  const mx = x.slice(start, endX);
  const my = y.slice(start, endY);
  const n = mx.length;
  const m = my.length;
  if (n * m > MAX_CELLS) {
    for (const line of mx) out.push({ op: '-', line });
    for (const line of my) out.push({ op: '+', line });
  } else {
    // lcs[i][j]: length of the LCS of mx[i..] and my[j..], in one flat array.
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] = mx[i] === my[j] ? (lcs[(i + 1) * w + j + 1] as number) + 1 : Math.max(lcs[(i + 1) * w + j] as number, lcs[i * w + j + 1] as number);
      }
    }
    let i = 0;
    let j = 0;
    const removed: string[] = [];
    const added: string[] = [];
    const flush = () => {
      for (const line of removed.splice(0)) out.push({ op: '-', line });
      for (const line of added.splice(0)) out.push({ op: '+', line });
    };
    while (i < n || j < m) {
      if (i < n && j < m && mx[i] === my[j]) {
        flush();
        out.push({ op: ' ', line: mx[i] as string });
        i++;
        j++;
      } else if (j >= m || (i < n && (lcs[(i + 1) * w + j] as number) >= (lcs[i * w + j + 1] as number))) {
        removed.push(mx[i++] as string);
      } else {
        added.push(my[j++] as string);
      }
    }
    flush();
  }
  for (const line of x.slice(endX)) out.push({ op: ' ', line });
  return out;
}

/** True when the two texts differ in any line. */
export function hasChanges(diff: readonly DiffLine[]): boolean {
  return diff.some((d) => d.op !== ' ');
}

/** Unified-style text: `--- a`, `+++ b`, then every line prefixed by its op. */
export function formatDiff(diff: readonly DiffLine[], aName: string, bName: string): string {
  return [`--- ${aName}`, `+++ ${bName}`, ...diff.map((d) => `${d.op}${d.line}`)].join('\n') + '\n';
}
