// JSON.parse keeps the last of duplicate keys silently, so a file can say two things about one name and the reader
// sees only one (a safetensors header naming a tensor twice). This finds such a key, in one linear pass over text
// that JSON.parse has already accepted.

/** The first key that appears twice in the same object, with its path ("a.b"), or undefined. */
export function findDuplicateKey(json: string): string | undefined {
  const objects: { keys: Set<string>; path: string; expectKey: boolean }[] = [];
  const contexts: ('object' | 'array')[] = [];
  let lastKey = '';
  for (let i = 0; i < json.length; i++) {
    const ch = json[i];
    if (ch === '"') {
      const end = stringEnd(json, i);
      const top = objects[objects.length - 1];
      if (contexts[contexts.length - 1] === 'object' && top.expectKey) {
        const key = JSON.parse(json.slice(i, end + 1)) as string;
        if (top.keys.has(key)) return top.path ? `${top.path}.${key}` : key;
        top.keys.add(key);
        top.expectKey = false;
        lastKey = key;
      }
      i = end;
    } else if (ch === '{') {
      const parent = objects[objects.length - 1];
      const path = contexts.length === 0 ? '' : parent?.path ? `${parent.path}.${lastKey}` : lastKey;
      objects.push({ keys: new Set(), path, expectKey: true });
      contexts.push('object');
    } else if (ch === '[') {
      contexts.push('array');
    } else if (ch === '}') {
      objects.pop();
      contexts.pop();
    } else if (ch === ']') {
      contexts.pop();
    } else if (ch === ',' && contexts[contexts.length - 1] === 'object') {
      objects[objects.length - 1].expectKey = true;
    }
  }
  return undefined;
}

// The index of the quote closing the string that opens at `start`.
function stringEnd(json: string, start: number): number {
  for (let i = start + 1; i < json.length; i++) {
    if (json[i] === '\\') i++;
    else if (json[i] === '"') return i;
  }
  return json.length;
}
