//! The readiness report's inputs read from a live cluster with the
//! kubeconfig, as `kubectl` would print them: the same `Inputs` the files
//! give, so that the report is the same either way. Lists are read in pages
//! (kubectl's 500 by default) with their progress written out; node metrics
//! go through the API server's node proxy, several at a time. An input the
//! cluster refuses (RBAC) is recorded in `Inputs::problems` with what the
//! report judges instead, and what was read only in part in `Inputs::notes`. An API server that cannot be reached, does not
//! answer in time, refuses the credentials or is no API server stops the
//! command: a report of nothing must not read as ready.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Request;
use kube::{Client, Config};
use serde_json::{Map, Value, json};

use crate::readiness::{Injector, Inputs, mesh_injectors};

/// Where the cluster is, and how to read it.
#[derive(Debug, Clone)]
pub struct Source {
    /// A kubeconfig file; else `KUBECONFIG`, `~/.kube/config` or in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig; else its current context.
    pub context: Option<String>,
    /// A cluster and a user of the kubeconfig, instead of the context's.
    pub cluster: Option<String>,
    pub user: Option<String>,
    /// How long to wait for the API server: to connect, and for each part
    /// of an answer (a large page that keeps coming is not cut off).
    pub request_timeout: Duration,
    /// Objects per page of a list.
    pub page_size: u32,
    /// Nodes whose kubelet metrics are read (each is a request through the
    /// API server's proxy, and a kubelet's metrics run to megabytes).
    pub node_metrics_limit: usize,
}

/// Which inputs to read: those the operator did not give as files.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanted {
    pub apiserver_metrics: bool,
    pub node_metrics: bool,
    pub nodes: bool,
    pub version: bool,
    pub webhooks: bool,
    pub workloads: bool,
    pub namespaces: bool,
    pub meshes: bool,
    pub policies: bool,
}

/// A list the report reads: what it calls it, its path, and the apiVersion
/// and kind of its items (which the API server leaves out of a list's items).
#[derive(Clone, Copy)]
struct Listing {
    what: &'static str,
    path: &'static str,
    api_version: &'static str,
    kind: &'static str,
}

const fn listing(
    what: &'static str,
    path: &'static str,
    api_version: &'static str,
    kind: &'static str,
) -> Listing {
    Listing {
        what,
        path,
        api_version,
        kind,
    }
}

const NODES: Listing = listing("nodes", "/api/v1/nodes", "v1", "Node");
const WEBHOOKS: Listing = listing(
    "mutating webhooks",
    "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
    "admissionregistration.k8s.io/v1",
    "MutatingWebhookConfiguration",
);
const NAMESPACES: Listing = listing("namespaces", "/api/v1/namespaces", "v1", "Namespace");
const POLICIES: [Listing; 4] = [
    listing(
        "ClusterAdmissionPolicies",
        "/apis/policies.kubewarden.io/v1/clusteradmissionpolicies",
        "policies.kubewarden.io/v1",
        "ClusterAdmissionPolicy",
    ),
    listing(
        "AdmissionPolicies",
        "/apis/policies.kubewarden.io/v1/admissionpolicies",
        "policies.kubewarden.io/v1",
        "AdmissionPolicy",
    ),
    listing(
        "ClusterAdmissionPolicyGroups",
        "/apis/policies.kubewarden.io/v1/clusteradmissionpolicygroups",
        "policies.kubewarden.io/v1",
        "ClusterAdmissionPolicyGroup",
    ),
    listing(
        "AdmissionPolicyGroups",
        "/apis/policies.kubewarden.io/v1/admissionpolicygroups",
        "policies.kubewarden.io/v1",
        "AdmissionPolicyGroup",
    ),
];
const WORKLOADS: [Listing; 3] = [
    listing("pods", "/api/v1/pods", "v1", "Pod"),
    listing("jobs", "/apis/batch/v1/jobs", "batch/v1", "Job"),
    listing("cronjobs", "/apis/batch/v1/cronjobs", "batch/v1", "CronJob"),
];
/// The controllers a policy with `checkOwner` compares Pods with.
const CONTROLLERS: [Listing; 3] = [
    listing(
        "replicasets",
        "/apis/apps/v1/replicasets",
        "apps/v1",
        "ReplicaSet",
    ),
    listing(
        "statefulsets",
        "/apis/apps/v1/statefulsets",
        "apps/v1",
        "StatefulSet",
    ),
    listing("daemonsets", "/apis/apps/v1/daemonsets", "apps/v1", "DaemonSet"),
];

/// Node metrics read at once through the API server's proxy.
const CONCURRENT_NODE_METRICS: usize = 16;
/// The reason kube gives an error answer that is no `Status` of the API
/// (a proxy's or a gateway's page).
const NOT_A_STATUS: &str = "Failed to parse error data";

/// The longest wait before asking again an API server that is too busy.
const THROTTLED_WAIT_MOST: Duration = Duration::from_secs(4);

/// Reads the wanted inputs into `inputs`, writing progress to `progress`.
/// `Err` when the cluster cannot be asked at all.
pub fn read(
    source: &Source,
    wanted: Wanted,
    inputs: &mut Inputs,
    progress: &mut dyn Write,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("could not start the client: {e}"))?;
    runtime.block_on(async {
        let reader = Reader {
            client: client(source).await?,
            page_size: source.page_size.max(1),
            node_metrics_limit: source.node_metrics_limit,
        };
        reader.read(wanted, inputs, progress).await
    })
}

async fn client(source: &Source) -> Result<Client, String> {
    let options = KubeConfigOptions {
        context: source.context.clone(),
        cluster: source.cluster.clone(),
        user: source.user.clone(),
    };
    let chosen = source.context.is_some() || source.cluster.is_some() || source.user.is_some();
    let unusable = |e: &dyn std::fmt::Display| format!("no usable kubeconfig: {e}");
    let mut config = match &source.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| format!("{}: {e}", path.display()))?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| unusable(&e))?
        }
        None if chosen => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| unusable(&e))?,
        // KUBECONFIG, ~/.kube/config, else the pod's service account.
        None => Config::infer().await.map_err(|e| unusable(&e))?,
    };
    // kube waits for ever by default: an API server that accepts the
    // connection and never answers would hang the report.
    // kube asks again on 429, 503 and 504 up to 15 times, for minutes: a
    // node proxy's 503 (its kubelet unreachable) would hold the report up
    // node by node. `Reader::ask` asks again on 429 only, three times.
    config.default_retry = false;
    config.connect_timeout = Some(source.request_timeout);
    config.read_timeout = Some(source.request_timeout);
    config.write_timeout = Some(source.request_timeout);
    Client::try_from(config).map_err(|e| format!("could not build the client: {e}"))
}

/// Why an input could not be read: the API server's refusal in its words.
fn why(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            let reason = match status.code {
                401 => "unauthorized".to_owned(),
                403 => "forbidden".to_owned(),
                404 => "not found".to_owned(),
                code => format!("{} ({code})", status.reason),
            };
            match status.message.as_str() {
                "" => reason,
                message => format!("{reason}: {message}"),
            }
        }
        kube::Error::SerdeError(e) => format!("not an answer of the Kubernetes API ({e})"),
        // With its causes: "client error (SendRequest)" alone does not say
        // that the answer timed out.
        other => {
            let mut said = other.to_string();
            let mut cause = std::error::Error::source(other);
            while let Some(error) = cause {
                said = format!("{said}: {error}");
                cause = error.source();
            }
            said
        }
    }
}

/// The errors that stop the command: every other input would fail alike.
fn fatal(error: &kube::Error) -> Option<String> {
    match error {
        kube::Error::Api(_) | kube::Error::SerdeError(_) => credentials_refused(error),
        other => Some(format!("could not reach the API server: {other}")),
    }
}

/// A 401: the kubeconfig's credentials (an expired token) are refused.
fn credentials_refused(error: &kube::Error) -> Option<String> {
    matches!(error, kube::Error::Api(status) if status.code == 401).then(|| {
        format!(
            "the API server refuses the kubeconfig's credentials ({})",
            why(error)
        )
    })
}

/// Whether a text is in Prometheus' exposition format (a login page
/// answered with 200 is not).
fn looks_like_metrics(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .is_some_and(|line| {
            line.starts_with('#') || line.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        })
}

/// Whether a node may answer through the proxy: not when its Ready
/// condition is there and not True (its kubelet is unreachable).
fn ready(node: &Value) -> bool {
    let conditions = node.pointer("/status/conditions").and_then(Value::as_array);
    let ready = conditions
        .into_iter()
        .flatten()
        .find(|c| c.get("type") == Some(&json!("Ready")));
    ready.is_none_or(|c| c.get("status") == Some(&json!("True")))
}

/// Whether some deployed policy of this one compares a Pod with its
/// controller, which the report then needs.
fn checks_owners(inputs: &Inputs) -> bool {
    let checks =
        |settings: &Value| settings.pointer("/strippedRestartPolicy/checkOwner") == Some(&json!(true));
    inputs.settings.as_ref().is_some_and(checks)
        || inputs
            .policies
            .iter()
            .flat_map(|list| crate::readiness::items(list))
            .filter_map(|policy| policy.pointer("/spec/settings"))
            .any(checks)
}

struct Reader {
    client: Client,
    page_size: u32,
    node_metrics_limit: usize,
}

impl Reader {
    async fn read(
        &self,
        wanted: Wanted,
        inputs: &mut Inputs,
        progress: &mut dyn Write,
    ) -> Result<(), String> {
        let started = Instant::now();
        // The version first: every user may read it (the default role
        // system:public-info-viewer), so an answer that is not the API's
        // (a login page, a gateway's error page, a 404) stops here. The API
        // server's own refusal, or its saying it is busy, is this input's
        // problem, as for any other.
        if wanted.version {
            match self.get::<Value>("/version").await {
                Ok(version) => inputs.version = Some(json!({"serverVersion": version})),
                Err(kube::Error::Api(status))
                    if matches!(status.code, 403 | 429 | 500..) && status.reason != NOT_A_STATUS =>
                {
                    problem(
                        inputs,
                        "the versions",
                        &kube::Error::Api(status),
                        "judged by the metrics",
                    )?
                }
                Err(e) => {
                    return Err(fatal(&e)
                        .unwrap_or_else(|| format!("not a Kubernetes API server: /version: {}", why(&e))));
                }
            }
        }
        if wanted.apiserver_metrics {
            match self.text("/metrics").await {
                Ok(metrics) if looks_like_metrics(&metrics) => inputs.apiserver_metrics = Some(metrics),
                Ok(_) => inputs.problems.push(
                    "could not read the API server's metrics: /metrics answered something else; judged by its version"
                        .to_owned(),
                ),
                Err(e) => problem(inputs, "the API server's metrics", &e, "judged by its version")?,
            }
        }
        if wanted.nodes {
            inputs.nodes = self
                .list(inputs, progress, &NODES, "the nodes are not judged")
                .await?;
        }
        if wanted.node_metrics && inputs.nodes.is_some() {
            self.node_metrics(inputs, progress).await?;
        }
        if wanted.webhooks {
            inputs.webhooks = self
                .list(
                    inputs,
                    progress,
                    &WEBHOOKS,
                    "their order and the meshes are not judged",
                )
                .await?;
        }
        if wanted.meshes {
            self.meshes(inputs).await?;
        }
        if wanted.namespaces {
            inputs.namespaces = self
                .list(
                    inputs,
                    progress,
                    &NAMESPACES,
                    "namespace selectors judged by the namespace's name alone",
                )
                .await?;
        }
        if wanted.policies {
            self.policies(inputs, progress).await?;
        }
        if wanted.workloads {
            self.workloads(inputs, progress).await?;
        }
        let _ = writeln!(
            progress,
            "read the cluster in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, kube::Error> {
        self.ask(|| async {
            let request = http::Request::get(path)
                .body(Vec::new())
                .map_err(kube::Error::HttpError)?;
            self.client.request(request).await
        })
        .await
    }

    async fn text(&self, path: &str) -> Result<String, kube::Error> {
        self.ask(|| async {
            let request = http::Request::get(path)
                .body(Vec::new())
                .map_err(kube::Error::HttpError)?;
            self.client.request_text(request).await
        })
        .await
    }

    /// A request, asked again after 1, 2 and 4 s while the API server says
    /// it is too busy (429, API Priority and Fairness), as kubectl does.
    async fn ask<T, Asked>(&self, request: impl Fn() -> Asked) -> Result<T, kube::Error>
    where
        Asked: std::future::Future<Output = Result<T, kube::Error>>,
    {
        let mut wait = Duration::from_secs(1);
        loop {
            match request().await {
                Err(kube::Error::Api(status)) if status.code == 429 && wait <= THROTTLED_WAIT_MOST => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                answer => return answer,
            }
        }
    }

    /// Every object of a list, page by page, as `kubectl get -o json`
    /// prints it (a `List` whose items carry their kind); `None`, with the
    /// problem recorded, when the cluster refuses.
    async fn list(
        &self,
        inputs: &mut Inputs,
        progress: &mut dyn Write,
        listing: &Listing,
        instead: &str,
    ) -> Result<Option<Value>, String> {
        match self.pages(inputs, progress, listing).await {
            Ok(items) => Ok(Some(json!({"apiVersion": "v1", "kind": "List", "items": items}))),
            Err(e) => problem(inputs, listing.what, &e, instead).map(|()| None),
        }
    }

    /// The items of a list, page by page. A continue token that expired
    /// while paging (410 Gone: the list changed too much meanwhile) is
    /// followed by the one the API server offers instead, which reads the
    /// rest as it is now: the report says so, since the list then mixes two
    /// moments.
    async fn pages(
        &self,
        inputs: &mut Inputs,
        progress: &mut dyn Write,
        listing: &Listing,
    ) -> Result<Vec<Value>, kube::Error> {
        let Listing {
            what,
            path,
            api_version,
            kind,
        } = *listing;
        let started = Instant::now();
        let mut items = Vec::new();
        let mut pages = 0;
        let mut token: Option<String> = None;
        let (mut expired_in_row, mut said_expired) = (0, false);
        loop {
            let mut params = ListParams::default().limit(self.page_size);
            if let Some(token) = &token {
                params = params.continue_token(token);
            }
            let asked = self
                .ask(|| async {
                    let request = Request::new(path)
                        .list(&params)
                        .map_err(kube::Error::BuildRequest)?;
                    self.client.request(request).await
                })
                .await;
            let mut page: Map<String, Value> = match asked {
                Ok(page) => page,
                // A few times in a row at most: an API server whose fresh
                // tokens expire too is not followed round for ever.
                Err(kube::Error::Api(status))
                    if status.code == 410 && token.is_some() && expired_in_row < 3 =>
                {
                    let offered = status.metadata.as_ref().and_then(|m| m.continue_.clone());
                    let Some(offered) = offered.filter(|t| !t.is_empty()) else {
                        return Err(kube::Error::Api(status));
                    };
                    if !said_expired {
                        said_expired = true;
                        inputs.notes.push(format!(
                            "the {what} changed while they were read (their continue token expired): the rest \
                             was read as it is now"
                        ));
                    }
                    expired_in_row += 1;
                    token = Some(offered);
                    continue;
                }
                Err(e) => return Err(e),
            };
            pages += 1;
            expired_in_row = 0;
            if let Some(Value::Array(page_items)) = page.remove("items") {
                items.extend(
                    page_items
                        .into_iter()
                        .map(|item| with_kind(item, api_version, kind)),
                );
            }
            let metadata = page.get("metadata");
            token = metadata
                .and_then(|m| m.get("continue"))
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            if token.is_none() {
                break;
            }
            let remaining = metadata
                .and_then(|m| m.get("remainingItemCount"))
                .and_then(Value::as_u64);
            let _ = writeln!(
                progress,
                "  {what}: {} read{}…",
                items.len(),
                remaining.map(|r| format!(", {r} to go")).unwrap_or_default()
            );
        }
        let _ = writeln!(
            progress,
            "read {} {what} in {pages} page(s), {:.1} s",
            items.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(items)
    }

    /// Each Ready node's kubelet metrics through the API server's proxy,
    /// several at a time; the first refusal stops the rest (RBAC refuses
    /// them all). Beyond the limit, one node of each kubelet version comes
    /// first. The others are judged by their version, and the report says so.
    async fn node_metrics(&self, inputs: &mut Inputs, progress: &mut dyn Write) -> Result<(), String> {
        let listed: Vec<&Value> = inputs
            .nodes
            .as_ref()
            .map(crate::readiness::items)
            .unwrap_or_default();
        let named = |n: &&Value| {
            n.pointer("/metadata/name")
                .and_then(Value::as_str)
                .is_some_and(|name| !name.is_empty())
        };
        let (reachable, not_ready): (Vec<&Value>, Vec<&Value>) =
            listed.into_iter().filter(named).partition(|n| ready(n));
        let mut versions_seen = HashSet::new();
        let (first, rest): (Vec<&Value>, Vec<&Value>) = reachable.iter().partition(|n| {
            versions_seen.insert(
                n.pointer("/status/nodeInfo/kubeletVersion")
                    .and_then(Value::as_str),
            )
        });
        let name = |n: &Value| {
            n.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let names: Vec<String> = first
            .into_iter()
            .chain(rest)
            .take(self.node_metrics_limit)
            .map(name)
            .collect();
        if !not_ready.is_empty() {
            inputs.notes.push(format!(
                "{} node(s) are not Ready ({}), whose kubelets the API server cannot reach: judged by version",
                not_ready.len(),
                crate::readiness::listed(&not_ready.into_iter().map(name).collect::<Vec<_>>())
            ));
        }
        if names.len() < reachable.len() {
            inputs.notes.push(format!(
                "the metrics of {} of {} Ready nodes were read (--node-metrics-limit {}, one node of each kubelet \
                 version first); the others are judged by version",
                names.len(),
                reachable.len(),
                self.node_metrics_limit
            ));
        }
        let started = Instant::now();
        let mut reads = futures::stream::iter(names.iter().map(|name| async move {
            let path = format!("/api/v1/nodes/{name}/proxy/metrics");
            (name, self.text(&path).await)
        }))
        .buffered(CONCURRENT_NODE_METRICS);
        let mut failed = Vec::new();
        let mut done = 0;
        // Nodes in a row whose kubelet did not answer at all (a timeout, a
        // reset proxied connection): as many as are asked at once, and the
        // API server itself has stopped answering; waiting out every other
        // node would take minutes. Any answer, an error's included, breaks
        // the row.
        let mut unanswered = 0;
        let mut given_up = 0;
        while let Some((name, read)) = reads.next().await {
            done += 1;
            if done % 500 == 0 && done < names.len() {
                let _ = writeln!(progress, "  node metrics: {done} of {} read…", names.len());
            }
            unanswered = match &read {
                Err(kube::Error::Api(_) | kube::Error::SerdeError(_)) | Ok(_) => 0,
                Err(_) => unanswered + 1,
            };
            match read {
                Ok(metrics) if looks_like_metrics(&metrics) => {
                    inputs.node_metrics.push((name.clone(), metrics))
                }
                Ok(_) => failed.push(format!("{name} (not metrics)")),
                Err(e) => {
                    if let Some(stop) = credentials_refused(&e) {
                        return Err(stop);
                    }
                    if matches!(&e, kube::Error::Api(s) if s.code == 403) {
                        return problem(inputs, "node metrics", &e, "judged by version");
                    }
                    // A kubelet that does not answer: that node's loss,
                    // since the API server does not time node proxies out.
                    failed.push(format!("{name} ({})", why(&e)));
                }
            }
            if unanswered >= CONCURRENT_NODE_METRICS {
                given_up = names.len() - done;
                break;
            }
        }
        if !failed.is_empty() {
            let given_up = match given_up {
                0 => String::new(),
                more => format!(
                    "; {more} more were not waited for, after {CONCURRENT_NODE_METRICS} nodes in a row did not answer"
                ),
            };
            inputs.problems.push(format!(
                "could not read the metrics of {} node(s): {}{given_up}; judged by version",
                failed.len(),
                crate::readiness::listed(&failed)
            ));
        }
        let _ = writeln!(
            progress,
            "read the metrics of {} node(s), {:.1} s",
            inputs.node_metrics.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// The Kubewarden policies and policy groups, cluster-wide and namespaced.
    async fn policies(&self, inputs: &mut Inputs, progress: &mut dyn Write) -> Result<(), String> {
        for listing in &POLICIES {
            match self.pages(inputs, progress, listing).await {
                Ok(items) => inputs
                    .policies
                    .push(json!({"apiVersion": "v1", "kind": "List", "items": items})),
                // A Kubewarden without this kind (policy groups came later) has none of it.
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => problem(inputs, listing.what, &e, "judge with --settings or --policies")?,
            }
        }
        Ok(())
    }

    /// Pods, Jobs and CronJobs of every namespace, as one list; with the
    /// controllers the policies compare Pods with (`checkOwner`), whose
    /// lookups the report answers from them.
    async fn workloads(&self, inputs: &mut Inputs, progress: &mut dyn Write) -> Result<(), String> {
        let controllers: &[Listing] = if checks_owners(inputs) { &CONTROLLERS } else { &[] };
        let mut items = Vec::new();
        for listing in WORKLOADS.iter().chain(controllers) {
            match self.pages(inputs, progress, listing).await {
                Ok(read) => items.extend(read),
                Err(e) => problem(inputs, listing.what, &e, "not judged")?,
            }
        }
        inputs.workloads = Some(json!({"apiVersion": "v1", "kind": "List", "items": items}));
        Ok(())
    }

    /// The meshes' control planes behind the injectors among the webhooks:
    /// the Deployment of each injector's service, and Linkerd's config.
    async fn meshes(&self, inputs: &mut Inputs) -> Result<(), String> {
        let mut objects = Vec::new();
        for injector in mesh_injectors(inputs.webhooks.as_ref()) {
            let Injector {
                mesh,
                namespace,
                service,
                configuration,
            } = injector;
            if namespace.is_empty() || service.is_empty() {
                inputs.problems.push(format!(
                    "{mesh}'s injector {configuration} is called by URL, not through a service: its control plane \
                     was not found; give it with --meshes"
                ));
                continue;
            }
            let mut paths = vec![(
                format!("/apis/apps/v1/namespaces/{namespace}/deployments/{service}"),
                "apps/v1",
                "Deployment",
            )];
            if mesh == "linkerd" {
                paths.push((
                    format!("/api/v1/namespaces/{namespace}/configmaps/linkerd-config"),
                    "v1",
                    "ConfigMap",
                ));
            }
            for (path, api_version, kind) in paths {
                match self.get::<Value>(&path).await {
                    Ok(object) => objects.push(with_kind(object, api_version, kind)),
                    Err(e) => problem(
                        inputs,
                        &format!(
                            "{mesh}'s {kind} {namespace}/{}",
                            path.rsplit('/').next().unwrap_or_default()
                        ),
                        &e,
                        "its settings are judged by less",
                    )?,
                }
            }
        }
        inputs.meshes = Some(json!({"apiVersion": "v1", "kind": "List", "items": objects}));
        Ok(())
    }
}

/// Records that an input could not be read, or stops when nothing could be.
fn problem(inputs: &mut Inputs, what: &str, error: &kube::Error, instead: &str) -> Result<(), String> {
    if let Some(fatal) = fatal(error) {
        return Err(fatal);
    }
    inputs
        .problems
        .push(format!("could not read {what}: {}; {instead}", why(error)));
    Ok(())
}

/// A list item as `kubectl get -o json` prints it: with its kind.
fn with_kind(mut item: Value, api_version: &str, kind: &str) -> Value {
    if let Value::Object(fields) = &mut item {
        fields
            .entry("apiVersion")
            .or_insert_with(|| Value::from(api_version));
        fields.entry("kind").or_insert_with(|| Value::from(kind));
    }
    item
}
