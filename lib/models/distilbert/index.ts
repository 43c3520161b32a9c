// DistilBERT with Hugging Face's module names and checkpoint loading.
export * from './config';
export * from './modeling';
export { initDistilBertWeights, randomDistilBert } from './loading';
