// JSON schemas for the routes: Fastify validates bodies and params with them and serializes replies with them.
export interface Limits {
  maxBatchTexts: number;
  maxTextChars: number;
}

const adapterName = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' } as const;
const error = {
  type: 'object',
  properties: { error: { type: 'string' }, message: { type: 'string' } },
  required: ['error', 'message'],
} as const;
const adapterList = {
  type: 'object',
  properties: { adapters: { type: 'array', items: { type: 'string' } } },
  required: ['adapters'],
} as const;

export function classifySchema(limits: Limits) {
  return {
    body: {
      type: 'object',
      properties: {
        texts: {
          type: 'array',
          minItems: 1,
          maxItems: limits.maxBatchTexts,
          items: { type: 'string', maxLength: limits.maxTextChars },
        },
        adapter: adapterName,
      },
      required: ['texts'],
      additionalProperties: false,
    },
    response: {
      200: {
        type: 'object',
        properties: {
          results: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                label: { type: 'string' },
                score: { type: 'number' },
                scores: { type: 'array', items: { type: 'number' } },
              },
            },
          },
          adapter: { type: ['string', 'null'] },
          model: { type: 'string' },
        },
      },
      '4xx': error,
      '5xx': error,
    },
  };
}

export const listAdaptersSchema = { response: { 200: adapterList } };

export const addAdapterSchema = {
  body: {
    type: 'object',
    properties: { name: adapterName, path: { type: 'string', minLength: 1, maxLength: 4096 } },
    required: ['name', 'path'],
    additionalProperties: false,
  },
  response: { 201: adapterList, '4xx': error, '5xx': error },
};

export const removeAdapterSchema = {
  params: { type: 'object', properties: { name: adapterName }, required: ['name'] },
  response: { 200: adapterList, '4xx': error, '5xx': error },
};
