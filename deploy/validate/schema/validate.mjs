// Checks Kubernetes documents against the schemas of the kubernetes-models
// packages: the Kubernetes OpenAPI schemas (required fields, types, enums,
// formats such as int32 and quantities) and the Prometheus Operator's CRD
// schema for the ServiceMonitor. Unknown fields are not this step's job:
// deploy/validate (Go, strict decoding into k8s.io/api) rejects them and
// writes the JSON documents this script reads.
//
//   node validate.mjs docs.json...
import { readFileSync } from "node:fs";

const models = {
  "v1 ConfigMap": () => import("kubernetes-models/v1/ConfigMap"),
  "v1 Secret": () => import("kubernetes-models/v1/Secret"),
  "v1 Service": () => import("kubernetes-models/v1/Service"),
  "v1 ServiceAccount": () => import("kubernetes-models/v1/ServiceAccount"),
  "apps/v1 Deployment": () => import("kubernetes-models/apps/v1/Deployment"),
  "policy/v1 PodDisruptionBudget": () => import("kubernetes-models/policy/v1/PodDisruptionBudget"),
  "networking.k8s.io/v1 NetworkPolicy": () => import("kubernetes-models/networking.k8s.io/v1/NetworkPolicy"),
  "monitoring.coreos.com/v1 ServiceMonitor": () =>
    import("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor"),
};

if (process.argv.length < 3) {
  console.error("usage: node validate.mjs docs.json...");
  process.exit(2);
}
const entries = process.argv.slice(2).flatMap((f) => JSON.parse(readFileSync(f, "utf8")));
let failed = 0;
for (const { source, doc } of entries) {
  const key = `${doc.apiVersion} ${doc.kind}`;
  const load = models[key];
  if (!load) {
    console.error(`${source}: no schema for ${key} (add it to deploy/validate/schema/validate.mjs)`);
    failed++;
    continue;
  }
  const Model = (await load())[doc.kind];
  try {
    new Model(doc).validate();
  } catch (e) {
    console.error(`${source}: ${e.message}`);
    failed++;
  }
}
if (entries.length === 0) {
  console.error("schema: no documents");
  process.exit(1);
}
console.log(`schema: ${entries.length - failed} of ${entries.length} documents valid`);
process.exit(failed ? 1 : 0);
