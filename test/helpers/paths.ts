import * as path from 'node:path';

export const SHARED = path.resolve(__dirname, '..', '..', '..', 'shared');
export const TINY_MODEL = path.join(SHARED, 'fixtures', 'distilbert-tiny-random');
export const BASE_MODEL_FILES = path.join(SHARED, 'models', 'distilbert-base-uncased');
export const fixture = (name: string) => path.join(SHARED, 'fixtures', name);
