/**
 * The Kubernetes manifests (deploy/kubernetes) and the Dockerfile, read as data: there is no
 * cluster or container engine here, so they are parsed and checked against what the code does
 * (the probe paths it serves, the settings it accepts, the shutdown it takes, the user it runs as).
 * The image's steps themselves run in test/ship/package.test.ts.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { readServerSettings } from '../../src/adapters/node/server-settings.js';
import { parseConfig } from '../../src/config/parse.js';
import { randomSecret } from '../helpers/config.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const K8S = join(ROOT, 'deploy/kubernetes');

/** A manifest as plain data: whatever the YAML says, checked by the tests below. */
type Manifest = any;

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? yamlFiles(join(dir, entry.name)) : entry.name.endsWith('.yaml') ? [join(dir, entry.name)] : [],
  );
}

function load(file: string): Manifest[] {
  const documents = parseAllDocuments(readFileSync(file, 'utf8'));
  for (const document of documents) expect(document.errors, relative(ROOT, file)).toEqual([]);
  return documents.map((document) => document.toJS());
}

const base = Object.fromEntries(
  load(join(K8S, 'base/kustomization.yaml'))[0].resources.map((file: string) => {
    const [manifest] = load(join(K8S, 'base', file));
    return [manifest.kind, manifest];
  }),
) as Record<string, Manifest>;
const deployment = base['Deployment'];
const pod = deployment?.spec.template.spec;
const container = pod?.containers[0];
const configMap = base['ConfigMap'];

/** What kustomize's `labels` with includeSelectors adds to every selector and template. */
const commonLabels = load(join(K8S, 'base/kustomization.yaml'))[0].labels[0].pairs;

describe('the Kubernetes manifests', () => {
  it('parse, and the base lists a Deployment, Service, ConfigMap, PodDisruptionBudget and HorizontalPodAutoscaler', () => {
    for (const file of yamlFiles(K8S)) expect(load(file).length, relative(ROOT, file)).toBeGreaterThan(0);
    expect(Object.keys(base).sort()).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);
    for (const manifest of Object.values(base)) expect(manifest.metadata.name).toBe('edge-token-handler');
  });

  it('probe liveness on {agent}/health and readiness on {agent}/ready, at the port the server listens on', () => {
    const agent = configMap.data['TH_AGENT_PATH'] ?? '/oauth-agent';
    expect(container.livenessProbe.httpGet).toEqual({ path: `${agent}/health`, port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: `${agent}/ready`, port: 'http' });
    const port = container.ports.find((p: Manifest) => p.name === 'http');
    expect(port.containerPort).toBe(readServerSettings(configMap.data).settings.port);
    expect(base['Service'].spec.ports[0].targetPort).toBe('http');
  });

  it('serve metrics on a port of their own that the annotations name and the Service does not expose', () => {
    const settings = readServerSettings(configMap.data);
    expect(settings.problems).toEqual([]);
    const metrics = container.ports.find((p: Manifest) => p.name === 'metrics');
    expect(metrics.containerPort).toBe(settings.settings.metricsPort);
    const annotations = deployment.spec.template.metadata.annotations;
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(Number(annotations['prometheus.io/port'])).toBe(settings.settings.metricsPort);
    expect(annotations['prometheus.io/path']).toBe('/metrics');
    expect(base['Service'].spec.ports.map((p: Manifest) => p.targetPort)).toEqual(['http']);
  });

  it('run the pod as the image user, non-root, read-only, without privilege escalation or capabilities', () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: dockerUser(), seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(container.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(container.resources.limits.memory).toEqual(expect.any(String));
  });

  it('take the secrets from a Secret and nothing secret from the ConfigMap', () => {
    expect(container.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }, { secretRef: { name: 'edge-token-handler-secrets' } }]);
    expect(container.env).toBeUndefined();
    for (const name of ['TH_CLIENT_SECRET', 'TH_CLIENT_PRIVATE_KEY', 'TH_COOKIE_KEYS']) expect(configMap.data).not.toHaveProperty(name);
    for (const file of yamlFiles(K8S)) for (const manifest of load(file)) expect(manifest.kind, relative(ROOT, file)).not.toBe('Secret');
  });

  it('hold settings the token handler accepts, once the Secret adds its part', () => {
    const secret = { TH_CLIENT_SECRET: randomSecret(), TH_COOKIE_KEYS: `k1:${randomSecret()}` };
    expect(() => parseConfig({ ...configMap.data, ...secret })).not.toThrow();
    expect(readServerSettings(configMap.data).problems).toEqual([]);
  });

  it('give a SIGTERM time to drain: terminationGracePeriodSeconds above the preStop pause plus SHUTDOWN_GRACE', () => {
    const grace = readServerSettings(configMap.data).settings.shutdownGraceMs / 1000;
    const [command, seconds] = container.lifecycle.preStop.exec.command;
    expect(command).toBe('sleep');
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(Number(seconds) + grace);
  });

  it('roll out and scale without a gap: surge before removal, a budget below the autoscaler minimum, one target', () => {
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    const hpa = base['HorizontalPodAutoscaler'].spec;
    expect(hpa.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.minReplicas).toBeGreaterThanOrEqual(2);
    // A budget that needs every pod would block every node drain.
    expect(base['PodDisruptionBudget'].spec.minAvailable).toBeLessThan(hpa.minReplicas);
    expect(deployment.spec.replicas).toBe(hpa.minReplicas);
  });

  it('select the same pods everywhere: the Deployment, the Service and the budget', () => {
    const selector = deployment.spec.selector.matchLabels;
    expect(deployment.spec.template.metadata.labels).toMatchObject(selector);
    expect(base['Service'].spec.selector).toEqual(selector);
    expect(base['PodDisruptionBudget'].spec.selector.matchLabels).toEqual(selector);
    expect(commonLabels).toEqual({ 'app.kubernetes.io/name': 'edge-token-handler' });
  });

  it('offer the Redis store as a component, which the example overlay uses', () => {
    const [component] = load(join(K8S, 'components/redis-store/kustomization.yaml'));
    expect(component.kind).toBe('Component');
    const [patch] = component.patches;
    expect(patch.target).toEqual({ kind: 'ConfigMap', name: configMap.metadata.name });
    const [operation] = parseAllDocuments(patch.patch)[0]!.toJS();
    expect(operation).toMatchObject({ op: 'add', path: '/data/TH_SESSION_STORE', value: expect.stringMatching(/^rediss?:\/\//) });

    const [overlay] = load(join(K8S, 'overlays/example/kustomization.yaml'));
    expect(overlay.resources).toEqual(['../../base']);
    expect(overlay.components).toEqual(['../../components/redis-store']);
    expect(overlay.images).toEqual([expect.objectContaining({ name: container.image })]);
    for (const path of [...overlay.resources, ...overlay.components]) expect(existsSync(join(K8S, 'overlays/example', path, 'kustomization.yaml'))).toBe(true);
  });
});

// --- the Dockerfile --------------------------------------------------------------------------

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
/** Instructions with their continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#'));
const stages = instructions.reduce<string[][]>((all, line) => (line.startsWith('FROM ') ? [...all, [line]] : (all.at(-1)?.push(line), all)), []);
const runtime = stages.at(-1)!;

function dockerUser(): number {
  const user = runtime.find((line) => line.startsWith('USER '));
  return Number(user?.slice('USER '.length).split(':')[0]);
}

describe('the Dockerfile', () => {
  it('builds in one stage and runs the packed package with production dependencies in another', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages.slice(0, -1).flat().join('\n');
    expect(build).toMatch(/npm run build/);
    expect(build).toMatch(/npm pack/);
    expect(build).toMatch(/npm ci --omit=dev/);
    expect(runtime.filter((line) => line.startsWith('COPY '))).toEqual([expect.stringMatching(/^COPY --from=build /)]);
  });

  it('runs node dist/node/server.js directly, as a numeric non-root user', () => {
    expect(runtime.find((line) => line.startsWith('CMD '))).toBe('CMD ["node", "dist/node/server.js"]');
    expect(dockerUser()).toBeGreaterThan(0);
    expect(runtime.some((line) => line.startsWith('HEALTHCHECK'))).toBe(false);
  });

  it('copies only what .dockerignore lets into the build context', () => {
    const allowed = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('!'))
      .map((line) => line.slice(1).replace(/\/$/, ''));
    expect(readFileSync(join(ROOT, '.dockerignore'), 'utf8')).toMatch(/^\*$/m);
    const sources = instructions
      .filter((line) => line.startsWith('COPY ') && !line.startsWith('COPY --from'))
      .flatMap((line) => line.split(/\s+/).slice(1, -1))
      .map((source) => source.replace(/\/$/, ''));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      expect(allowed.some((entry) => source === entry || source.startsWith(entry + '/')), source).toBe(true);
      expect(existsSync(join(ROOT, source)), source).toBe(true);
    }
    // The build script needs nothing but Node and the copied files: its imports are all built-ins.
    expect(readFileSync(join(ROOT, 'scripts/build.ts'), 'utf8').match(/from '([^']+)'/g)?.every((s) => s.includes("'node:"))).toBe(true);
  });
});
