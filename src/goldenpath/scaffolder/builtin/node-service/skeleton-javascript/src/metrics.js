// Prometheus metrics (prom-client), one registry per app.
import { Counter, Histogram, Registry } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests served.',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency in seconds.',
    labelNames: ['method', 'route'],
    registers: [registry],
  });
  return { registry, requests, duration };
}
