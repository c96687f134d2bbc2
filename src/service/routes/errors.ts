import { ProblemSchema } from '../schemas.js';

/** The problem replies every protected route can give, for the OpenAPI document. */
export const ERRORS = {
  400: { ...ProblemSchema, description: 'Invalid input (names the field); nothing was written' },
  401: { ...ProblemSchema, description: 'No or unknown bearer token' },
  403: { ...ProblemSchema, description: 'The token lacks the scope' },
  503: { ...ProblemSchema, description: 'The usage store is unavailable, or the server is overloaded or closing' },
} as const;
