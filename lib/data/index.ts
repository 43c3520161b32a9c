export * from './dataset';
export * from './tar';
export * from './imdb';
export * from './glue';
export * from './tabular';
export * from './split';
export * from './batching';
