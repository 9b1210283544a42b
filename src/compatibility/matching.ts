/**
 * A maximum matching in a bipartite graph given as an adjacency matrix (`edges[i][j]`: left i
 * may pair with right j), by augmenting paths (Kuhn's algorithm). The subschemas of a
 * combination are few, so its O(V·E) is plenty; written here because it is twenty lines.
 */
export function maximumMatching(edges: boolean[][]): Array<[number, number]> {
  const rightCount = Math.max(0, ...edges.map((row) => row.length));
  const leftOf = new Array<number>(rightCount).fill(-1);
  const augment = (left: number, visited: boolean[]): boolean => {
    const row = edges[left] ?? [];
    for (let right = 0; right < row.length; right++) {
      if (!row[right] || visited[right]) continue;
      visited[right] = true;
      const current = leftOf[right]!;
      if (current === -1 || augment(current, visited)) {
        leftOf[right] = left;
        return true;
      }
    }
    return false;
  };
  for (let left = 0; left < edges.length; left++) {
    augment(left, new Array<boolean>(rightCount).fill(false));
  }
  const pairs: Array<[number, number]> = [];
  leftOf.forEach((left, right) => {
    if (left !== -1) pairs.push([left, right]);
  });
  return pairs.sort((x, y) => x[0] - y[0]);
}
