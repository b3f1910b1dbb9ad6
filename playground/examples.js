// The playground's example menu: what an operator would paste, as YAML.
// Each example fills every input; `oldObject` only matters on UPDATE and
// `cluster` (Nodes, controllers) only for the context-aware options.

const jobWithIstioProxy = `apiVersion: batch/v1
kind: Job
metadata:
  name: nightly-report
  namespace: reports
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      initContainers:
        - name: istio-init
          image: docker.io/istio/proxyv2:1.22.3
          args: ["istio-iptables", "-p", "15001"]
      containers:
        - name: report
          image: registry.example.com/reports/nightly:5
          args: ["--date", "yesterday"]
        - name: istio-proxy
          image: docker.io/istio/proxyv2:1.22.3
          args: ["proxy", "sidecar", "--domain", "reports.svc.cluster.local"]
`;

const podOptedIn = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  labels:
    app: web
    native-sidecar.kubewarden.io/inject: "true"
spec:
  containers:
    - name: web
      image: nginx:1.27
      ports:
        - containerPort: 80
`;

const logShipper = `    container:
      name: log-shipper
      image: cr.fluentbit.io/fluent/fluent-bit:3.1-debug
      command: ["/fluent-bit/bin/fluent-bit"]
      args: ["--config=/fluent-bit/etc/fluent-bit.yaml"]
      volumeMounts:
        - name: app-logs
          mountPath: /var/log/app
          readOnly: true
    volumes:
      - name: app-logs
        emptyDir: {}
    appContainers:
      volumeMounts:
        - name: app-logs
          mountPath: /var/log/app
      env:
        - name: LOG_DIR
          value: /var/log/app
`;

const cronJob = (initContainer) => `apiVersion: batch/v1
kind: CronJob
metadata:
  name: sync
  namespace: ops
spec:
  schedule: "*/5 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          initContainers:
            - name: vpn
              image: registry.example.com/ops/vpn-client:4
${initContainer}          containers:
            - name: sync
              image: registry.example.com/ops/sync:9
`;

export const examples = [
  {
    id: 'job-legacy-proxy',
    title: 'Job with a legacy proxy sidecar (rejected)',
    operation: 'CREATE',
    object: jobWithIstioProxy,
    settings: `# Validate only: a Job whose sidecar never exits would never finish.
mutate: false
jobSidecars:
  action: reject
`,
  },
  {
    id: 'job-convert',
    title: 'Job with a legacy proxy sidecar (converted to native)',
    operation: 'CREATE',
    object: jobWithIstioProxy,
    settings: `jobSidecars:
  action: convert
`,
  },
  {
    id: 'inject-volumes',
    title: 'Injection with volumes, mounts and env',
    operation: 'CREATE',
    object: podOptedIn,
    settings: `sidecars:
  - name: log-shipper
    injection: optIn
    position: first
${logShipper}`,
  },
  {
    id: 'stripped-field',
    title: 'Stripped restartPolicy (an outdated webhook removed it)',
    operation: 'UPDATE',
    object: cronJob(''),
    oldObject: cronJob('              restartPolicy: Always\n'),
    settings: `strippedRestartPolicy:
  action: reject
`,
  },
  {
    id: 'mixed-nodes',
    title: 'Mixed-version nodes (node-version check)',
    operation: 'CREATE',
    object: `apiVersion: v1
kind: Pod
metadata:
  name: batch-worker
  namespace: shop
spec:
  nodeSelector:
    pool: b
  containers:
    - name: worker
      image: registry.example.com/shop/worker:3
`,
    settings: `nativeSupport:
  strategy: nodeVersion
  whenUnsupported: legacy
sidecars:
  - name: metrics-agent
    injection: always
    container:
      name: metrics-agent
      image: otel/opentelemetry-collector:0.110.0
`,
    cluster: `# kubectl get nodes -o yaml (the fields the policy reads)
apiVersion: v1
kind: NodeList
items:
  - metadata:
      name: pool-a-1
      labels: {pool: a}
    status:
      nodeInfo: {kubeletVersion: v1.30.2}
  - metadata:
      name: pool-b-1
      labels: {pool: b}
    status:
      nodeInfo: {kubeletVersion: v1.27.16-eks-a737599}
`,
  },
  {
    id: 'universal',
    title: 'Universal injection (native and legacy twins)',
    operation: 'CREATE',
    object: podOptedIn,
    settings: `nativeSupport:
  strategy: universal
  handshakeTimeoutSeconds: 20
sidecars:
  - name: log-shipper
${logShipper}`,
  },
];

// The readiness view's example: a 1.33 API server, one node pool on kubelet
// 1.27 without the gate, Istio's and a cloud identity webhook, and a Job whose
// proxy is a legacy sidecar.
export const readinessExample = {
  apiserverMetrics: `# TYPE kubernetes_feature_enabled gauge
kubernetes_feature_enabled{name="SidecarContainers",stage=""} 1
`,
  nodeMetrics: `# node: pool-a-1
kubernetes_feature_enabled{name="SidecarContainers",stage=""} 1
# node: pool-b-1
kubelet_running_pods 12
`,
  nodes: `apiVersion: v1
kind: NodeList
items:
  - metadata: {name: pool-a-1, labels: {pool: a}}
    status: {nodeInfo: {kubeletVersion: v1.33.4}}
  - metadata: {name: pool-b-1, labels: {pool: b}}
    status: {nodeInfo: {kubeletVersion: v1.27.16-eks-a737599}}
`,
  version: '{"serverVersion": {"gitVersion": "v1.33.4"}}',
  webhooks: `apiVersion: v1
kind: List
items:
  - metadata: {name: istio-sidecar-injector}
    webhooks:
      - name: namespace.sidecar-injector.istio.io
        rules: [{apiGroups: [""], apiVersions: [v1], resources: [pods], operations: [CREATE]}]
  - metadata: {name: aws-pod-identity-webhook}
    webhooks:
      - name: pod-identity-webhook.amazonaws.com
        reinvocationPolicy: IfNeeded
        rules: [{apiGroups: [""], apiVersions: [v1], resources: [pods], operations: [CREATE]}]
`,
  workloads: `apiVersion: v1
kind: List
items:
  - ${jobWithIstioProxy.replace(/\n/g, '\n    ').trimEnd()}
`,
  readinessSettings: `jobSidecars:
  action: reject
`,
};
