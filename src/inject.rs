//! Native sidecar injection: which templates a Pod gets, where they go, and
//! what they bring along (volumes, app mounts and env), as a plan of additions.
//!
//! Idempotence rests on one rule: a template whose sidecar is already in the
//! pod (`recognise`) is not injected again, so evaluating our own output adds
//! nothing.

use std::rc::Rc;

use serde::Serialize;
use serde_json::Value;

use crate::compat::{self, Mode, NodeSupport};
use crate::plan::{At, Edit, Plan, under};
use crate::quantity::Quantity;
use crate::recognise;
use crate::request::{Container, Workload};
use crate::settings::Compiled;
use crate::template::{
    Demand, HANDSHAKE_VOLUME, INJECT_KEY, Injection, MARKER_ENV, NOT_INJECTED_AUDIT_KEY, Position,
    STATUS_KEY, Template,
};

/// What the pod asked for through its annotation or label.
#[derive(Debug, PartialEq)]
enum Ask<'a> {
    Nothing,
    AllOptIn,
    OptOut,
    Named(Vec<&'a str>),
}

fn ask<'a>(workload: &Workload<'a>) -> Ask<'a> {
    // The annotation can list templates; the label exists for objectSelector.
    let Some(value) = workload
        .annotation(INJECT_KEY)
        .or_else(|| workload.label(INJECT_KEY))
    else {
        return Ask::Nothing;
    };
    let value = value.trim();
    if value.eq_ignore_ascii_case("true") {
        Ask::AllOptIn
    } else if value.eq_ignore_ascii_case("false") {
        Ask::OptOut
    } else {
        Ask::Named(
            value
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect(),
        )
    }
}

/// Where a sidecar of this pass was anchored, so that several templates with the
/// same position keep their settings order.
#[derive(Debug, PartialEq)]
enum Anchor<'t> {
    First,
    After(&'t str),
}

/// `initContainers` as they will be after this pass, to compute insert indices.
struct InitSlots<'p, 't> {
    slots: Vec<(&'p str, Option<Anchor<'t>>)>,
}

impl<'p, 't> InitSlots<'p, 't>
where
    't: 'p,
{
    fn index_of(&self, name: &str) -> Option<usize> {
        self.slots.iter().position(|(n, _)| *n == name)
    }

    /// The first index at or after `start` not taken by a sidecar of this pass with `anchor`.
    fn after_ours(&self, mut start: usize, anchor: &Anchor<'t>) -> usize {
        while matches!(self.slots.get(start), Some((_, Some(a))) if a == anchor) {
            start += 1;
        }
        start
    }

    /// Where `template` goes; `None` when its anchor is missing (the caller falls back to first).
    fn place(&self, position: &'t Position) -> Option<(usize, Option<Anchor<'t>>)> {
        match position {
            Position::First => Some((self.after_ours(0, &Anchor::First), Some(Anchor::First))),
            Position::Last => Some((self.slots.len(), None)),
            Position::After(name) => {
                let anchor = Anchor::After(name);
                self.index_of(name)
                    .map(|i| (self.after_ours(i + 1, &anchor), Some(anchor)))
            }
            Position::Before(name) => self.index_of(name).map(|i| (i, None)),
        }
    }
}

/// Adds to `plan` the injection of every template the pod gets.
pub fn plan_injection(compiled: &Compiled, workload: &Workload, nodes: &NodeSupport, plan: &mut Plan) {
    let chosen = choose(compiled, workload, plan);
    if chosen.is_empty() {
        return;
    }
    if workload.spec.host_network() && !compiled.inject_host_network_pods {
        // Never silent: an author must not escape a required sidecar unseen
        // by asking for host networking.
        not_injected(
            &chosen,
            "the pod uses hostNetwork, and this policy does not inject into hostNetwork pods \
             (setting injectHostNetworkPods)",
            plan,
        );
        return;
    }
    report_forged_markers(compiled, workload, plan);
    let mut pass = Pass::new(compiled, workload, &chosen);
    for template in &chosen {
        match pass.inject(template, nodes, plan) {
            Ok(()) | Err(Skip::Template) => {}
            Err(Skip::Pod) => return,
        }
    }
    pass.finish(plan);
}

/// No sidecar for this pod: a warning for its author and, when the cluster
/// operator requires some of them (`injection: always`), an audit annotation.
fn not_injected(chosen: &[&Template], why: &str, plan: &mut Plan) {
    let names = |required_only: bool| {
        chosen
            .iter()
            .filter(|t| !required_only || t.injection == Injection::Always)
            .map(|t| t.container_name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    plan.warn(format!("no sidecar injected ({}): {why}", names(false)));
    let required = names(true);
    if !required.is_empty() {
        plan.audit(NOT_INJECTED_AUDIT_KEY, format!("{required}: {why}"));
    }
}

/// Why a template is not injected (the plan says why): only this template,
/// or nothing more for this pod.
enum Skip {
    Template,
    Pod,
}

/// One injection pass over the chosen templates, in settings order: what it
/// has added so far, which the next template's placement, volumes and
/// app-container additions must see.
struct Pass<'x> {
    compiled: &'x Compiled,
    workload: &'x Workload<'x>,
    chosen: &'x [&'x Template],
    /// `initContainers` as they will be after the templates so far.
    init: InitSlots<'x, 'x>,
    added_volumes: Vec<(&'x str, &'x Rc<Value>)>,
    /// Per regular container, what this pass adds: (mount names, mount paths, env names).
    app_added: Vec<(Vec<&'x str>, Vec<&'x str>, Vec<&'x str>)>,
    injected: Vec<&'x Template>,
    /// Decided at the first template that is not in the pod yet: a pod that
    /// already has its sidecars costs no node lookup.
    decided: Option<(Mode, Option<String>)>,
}

impl<'x> Pass<'x> {
    fn new(compiled: &'x Compiled, workload: &'x Workload<'x>, chosen: &'x [&'x Template]) -> Self {
        let spec = &workload.spec;
        Pass {
            compiled,
            workload,
            chosen,
            init: InitSlots {
                slots: spec.init_containers.iter().map(|c| (c.name, None)).collect(),
            },
            added_volumes: Vec::new(),
            app_added: vec![Default::default(); spec.containers.len()],
            injected: Vec::new(),
            decided: None,
        }
    }

    fn inject(&mut self, template: &'x Template, nodes: &NodeSupport, plan: &mut Plan) -> Result<(), Skip> {
        self.not_in_pod_yet(template, plan)?;
        self.fits_the_os(template, plan)?;
        let mode = self.mode(nodes, plan)?;
        let twins = match (mode, &template.twins) {
            (Mode::Universal, Some(twins)) => Some(twins),
            (Mode::Universal, None) => return Err(Skip::Template),
            _ => None,
        };
        let spec = &self.workload.spec;
        let legacy_twin = twins.map(|t| &t.legacy);
        if let Some(name) = legacy_twin.and_then(|t| t.get("name")).and_then(Value::as_str)
            && spec.all_containers().any(|c| c.name == name)
        {
            return Err(self.skip(
                template,
                format!(
                    "the pod already has a container named {name:?}, the name of the regular copy of sidecar \
                     template {:?}",
                    template.id
                ),
                "rename the pod's container, and the policy injects the sidecar itself",
                plan,
            ));
        }
        let handshake = twins.map(|t| (HANDSHAKE_VOLUME, &t.volume));
        let new_volumes = self.new_volumes(template, handshake, plan)?;

        let spec_at = &self.workload.spec_pointer;
        let init_container = match (mode, twins) {
            (Mode::Native, _) => Some(&template.native_container),
            (Mode::Universal, Some(twins)) => Some(&twins.native),
            _ => None,
        };
        if let Some(container) = init_container {
            let index = self.init_index(template, plan);
            plan.edits.push(Edit::Insert {
                list: under(spec_at, "initContainers"),
                at: At::Index(index),
                value: container.clone(),
            });
        }
        let regular_container = match mode {
            Mode::Legacy => template.legacy_container.as_ref(),
            _ => legacy_twin,
        };
        if let Some(container) = regular_container {
            plan.edits.push(Edit::Insert {
                list: under(spec_at, "containers"),
                at: At::End,
                value: container.clone(),
            });
        }
        for (name, definition) in new_volumes {
            self.added_volumes.push((name, definition));
            plan.edits.push(Edit::Insert {
                list: under(spec_at, "volumes"),
                at: At::End,
                value: definition.clone(),
            });
        }
        for (container, added) in spec.containers.iter().zip(self.app_added.iter_mut()) {
            add_to_app_container(template, container, added, spec_at, plan);
        }
        self.injected.push(template);
        Ok(())
    }

    /// A container of the template's name is either this sidecar, injected
    /// before (nothing to do: idempotence), or the pod's own.
    fn not_in_pod_yet(&self, template: &Template, plan: &mut Plan) -> Result<(), Skip> {
        let spec = &self.workload.spec;
        let Some(existing) = spec.all_containers().find(|c| c.name == template.container_name) else {
            return Ok(());
        };
        let Some(difference) = not_injected_by(template, existing) else {
            return Err(Skip::Template);
        };
        Err(self.skip(
            template,
            format!(
                "the pod already has a container named {:?} that is not the sidecar of template {:?} \
                 ({difference})",
                template.container_name, template.id
            ),
            "remove or rename the pod's container, and the policy injects the sidecar itself",
            plan,
        ))
    }

    /// The pod's operating system forbids nothing the template sets: the API
    /// server refuses Linux-only security settings in a Windows pod, Windows
    /// options in a Linux pod, and any container beside HostProcess ones.
    fn fits_the_os(&self, template: &Template, plan: &mut Plan) -> Result<(), Skip> {
        let spec = &self.workload.spec;
        let (os, forbidden) = match spec.os() {
            Some("windows") => ("Windows (spec.os.name: windows)", &template.linux_only),
            Some("linux") => ("Linux (spec.os.name: linux)", &template.windows_only),
            _ => ("", &Vec::new()),
        };
        if !forbidden.is_empty() {
            return Err(self.skip(
                template,
                format!(
                    "the pod runs {os}, where the API server refuses the {} of sidecar template {:?}",
                    forbidden.join(", "),
                    template.id
                ),
                "run the pod on the template's operating system, or ask the cluster operator to leave such \
                 pods out of this policy",
                plan,
            ));
        }
        if spec.host_process() {
            return Err(self.skip(
                template,
                format!(
                    "the pod runs Windows HostProcess containers, beside which the API server refuses any \
                     other, such as sidecar template {:?}",
                    template.id
                ),
                "ask the cluster operator to leave HostProcess pods out of this policy",
                plan,
            ));
        }
        Ok(())
    }

    /// Whether the cluster operator requires `template` in every pod.
    fn enforced(&self, template: &Template) -> bool {
        template.injection == Injection::Always && !self.compiled.allow_opt_out
    }

    /// Not injecting `template` into this pod, because of `why`: a refusal
    /// when the cluster operator requires it in every pod (`injection:
    /// always`, `allowOptOut: false`), so that no look-alike, name or volume
    /// of the pod's own dodges it; otherwise a warning, and an audit
    /// annotation for the operator when the template is injected by default.
    fn skip(&self, template: &Template, why: String, fix: &str, plan: &mut Plan) -> Skip {
        if self.enforced(template) {
            plan.reject(format!(
                "{why}, which the cluster operator requires in every pod (injection: always, allowOptOut: \
                 false): {fix}"
            ));
            return Skip::Pod;
        }
        plan.warn(format!(
            "sidecar template {:?} not injected: {why}; {fix}",
            template.id
        ));
        if template.injection == Injection::Always {
            plan.audit(
                NOT_INJECTED_AUDIT_KEY,
                format!("{}: {why}", template.container_name),
            );
        }
        Skip::Template
    }

    /// Native, legacy or universal: decided once per pod.
    fn mode(&mut self, nodes: &NodeSupport, plan: &mut Plan) -> Result<Mode, Skip> {
        if let Some((mode, _)) = &self.decided {
            return Ok(*mode);
        }
        let spec = &self.workload.spec;
        match nodes.mode_for(self.workload, plan) {
            // A regular container that runs the sidecar never exits: in a pod
            // meant to complete it is the very legacy sidecar the Job check
            // refuses, and the universal injector's regular copy becomes one
            // wherever native sidecars do not work.
            Some((mode @ (Mode::Legacy | Mode::Universal), why)) if spec.runs_to_completion() => {
                let copies = match mode {
                    Mode::Universal => "the universal injector's regular copy would run it",
                    _ => "it would run as a regular container (legacy mode)",
                };
                let because = why.map(|why| format!(" ({why})")).unwrap_or_default();
                let why = format!(
                    "this pod runs to completion (restartPolicy {}), and where native sidecars are not \
                     supported{because} {copies} and keep it from completing; run it on nodes that support \
                     native sidecars",
                    spec.restart_policy()
                );
                match self.chosen.iter().find(|t| self.enforced(t)) {
                    Some(required) => plan.reject(format!(
                        "sidecar template {:?} cannot be injected, which the cluster operator requires in every \
                         pod (injection: always, allowOptOut: false): {why}",
                        required.id
                    )),
                    None => not_injected(self.chosen, &why, plan),
                }
                Err(Skip::Pod)
            }
            Some((mode, why)) => {
                self.decided = Some((mode, why));
                Ok(mode)
            }
            None => Err(Skip::Pod),
        }
    }

    /// The template's volumes (and the universal copies' handshake volume)
    /// that the pod does not have yet; a same-named volume must say the same.
    fn new_volumes(
        &self,
        template: &'x Template,
        handshake: Option<(&'x str, &'x Rc<Value>)>,
        plan: &mut Plan,
    ) -> Result<Vec<(&'x str, &'x Rc<Value>)>, Skip> {
        let spec = &self.workload.spec;
        let pod_has = |name: &str| spec.volume(name).or_else(|| find(&self.added_volumes, name));
        let mut new_volumes = Vec::new();
        let volumes = template.volumes.iter().map(|(name, v)| (name.as_str(), v));
        for (name, definition) in volumes.chain(handshake) {
            match pod_has(name) {
                Some(theirs) if recognise::says_at_least(theirs, definition) => {}
                Some(_) => {
                    return Err(self.skip(
                        template,
                        format!(
                            "the pod already has a volume named {name:?} that is not the one sidecar template \
                             {:?} brings",
                            template.id
                        ),
                        "rename the pod's volume, and the policy injects the sidecar itself",
                        plan,
                    ));
                }
                None => new_volumes.push((name, definition)),
            }
        }
        if let Some(missing) = template
            .mounted_volumes
            .iter()
            .find(|name| pod_has(name).is_none() && !new_volumes.iter().any(|(n, _)| n == name))
        {
            return Err(self.skip(
                template,
                format!(
                    "sidecar template {:?} mounts volume {missing:?}, defined by neither the template nor the \
                     pod",
                    template.id
                ),
                "add the volume to the pod",
                plan,
            ));
        }
        Ok(new_volumes)
    }

    /// Where the template's init container goes, taken from now on.
    fn init_index(&mut self, template: &'x Template, plan: &mut Plan) -> usize {
        let (index, anchor) = self.init.place(&template.position).unwrap_or_else(|| {
            plan.warn(format!(
                "sidecar {:?}: position {} names an init container the pod does not have; placed first",
                template.container_name, template.position
            ));
            (self.init.after_ours(0, &Anchor::First), Some(Anchor::First))
        });
        self.init
            .slots
            .insert(index, (template.container_name.as_str(), anchor));
        index
    }

    /// What the pass as a whole adds: the status annotation, and the node
    /// requirements or warnings of the mode.
    fn finish(self, plan: &mut Plan) {
        let Some((mode, why)) = self.decided.filter(|_| !self.injected.is_empty()) else {
            return;
        };
        let workload = self.workload;
        if mode != Mode::Legacy {
            compat::require_supported_nodes(&self.compiled.native_support, workload, plan);
        }
        raise_pod_resources(workload, &self.injected, mode, plan);
        plan.edits.push(Edit::Set {
            map: under(&workload.metadata_pointer, "annotations"),
            key: STATUS_KEY.to_owned(),
            value: Value::String(status(
                workload.annotation(STATUS_KEY),
                &self.injected,
                mode,
                why.as_deref(),
            ))
            .into(),
        });
    }
}

/// A pod with pod-level resources (`spec.resources`, Kubernetes 1.34 and
/// later) must have them cover its containers', or the API server refuses it:
/// each resource the pod sets is raised by what the injected sidecars ask
/// (their limits, or requests where they set no limit, for the pod's limits;
/// both copies under the universal injector), and the author told. A value
/// that cannot be raised refuses the pod, saying why.
fn raise_pod_resources(workload: &Workload, injected: &[&Template], mode: Mode, plan: &mut Plan) {
    let spec = &workload.spec;
    let lists = [
        ("requests", spec.pod_resources("requests")),
        ("limits", spec.pod_resources("limits")),
    ];
    if lists.iter().all(|(_, list)| list.is_none()) {
        return;
    }
    let copies = if mode == Mode::Universal { 2 } else { 1 };
    let added = injected
        .iter()
        .flat_map(|t| std::iter::repeat_n(&t.demand, copies))
        .try_fold(Demand::default(), |total, demand| total.plus(demand));
    let resources_at = under(&workload.spec_pointer, "resources");
    let spec_path = workload.spec_path();
    let mut raised = Vec::new();
    for (key, list) in lists {
        let Some(list) = list else {
            continue;
        };
        for (resource, request, bound) in added.iter().flat_map(|a| &a.0) {
            let Some(current) = list.get(resource) else {
                continue;
            };
            let more = if key == "requests" { *request } else { *bound };
            let Some(value) = Quantity::read(current)
                .and_then(|q| q.checked_add(more))
                .and_then(Quantity::text)
            else {
                plan.reject(format!(
                    "{spec_path}.resources.{key}.{resource} is {current}, and the sidecars this policy injects \
                     need {more} more of it, which cannot be added to that value: give the pod-level \
                     resources room for the sidecars yourself"
                ));
                return;
            };
            let was = current
                .as_str()
                .map_or_else(|| current.to_string(), str::to_owned);
            raised.push(format!("{key}.{resource} {was} -> {value}"));
            plan.edits.push(Edit::Set {
                map: under(&resources_at, key),
                key: resource.clone(),
                value: Value::String(value).into(),
            });
        }
    }
    if added.is_none() {
        plan.reject(format!(
            "the sidecars this policy injects ask for more than can be added to {spec_path}.resources: give \
             the pod-level resources room for the sidecars yourself"
        ));
    } else if !raised.is_empty() {
        plan.warn(format!(
            "{spec_path}.resources raised for the injected sidecars ({}): {}",
            injected
                .iter()
                .map(|t| t.container_name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            raised.join(", ")
        ));
    }
}

/// `None` when `container` is what `template` injects, in any of its forms
/// (see `recognise`); otherwise why it is not, from the form of its name.
fn not_injected_by(template: &Template, container: &Container) -> Option<String> {
    let mut differences = template
        .forms()
        .filter(|form| form.get("name").and_then(Value::as_str) == Some(container.name))
        .map(|form| recognise::difference(container.value, form));
    match differences.next() {
        None => Some("not a container the template injects".to_owned()),
        Some(None) => None,
        Some(Some(first)) => differences.all(|d| d.is_some()).then_some(first),
    }
}

/// The marker only counts on the container its template injects: a pod that
/// puts it elsewhere gains nothing, and is told so.
fn report_forged_markers(compiled: &Compiled, workload: &Workload, plan: &mut Plan) {
    for container in workload.spec.all_containers() {
        let Some(claimed) = container.env_value(MARKER_ENV) else {
            continue;
        };
        // Markers of templates this deployment does not have belong to another one.
        let mut named = compiled.templates.iter().filter(|t| t.id == claimed).peekable();
        if named.peek().is_some() && named.all(|t| not_injected_by(t, container).is_some()) {
            plan.warn(format!(
                "container {:?} carries {MARKER_ENV}={claimed:?} but is not what that sidecar template injects: \
                 the marker is ignored",
                container.name
            ));
        }
    }
}

/// The templates the pod gets, in settings order, warning about what it asked for and won't get.
fn choose<'c>(compiled: &'c Compiled, workload: &Workload, plan: &mut Plan) -> Vec<&'c Template> {
    let ask = ask(workload);
    let opted_out = ask == Ask::OptOut;
    let chosen: Vec<&Template> = compiled
        .templates
        .iter()
        .filter(|t| match (t.injection, &ask) {
            (Injection::Always, Ask::OptOut) => !compiled.allow_opt_out,
            (Injection::Always, _) | (Injection::OptIn, Ask::AllOptIn) => true,
            (Injection::OptIn, Ask::Named(names)) => names.contains(&t.id.as_str()),
            (Injection::OptIn, _) => false,
        })
        .collect();
    if let Ask::Named(names) = &ask {
        let mut unknown: Vec<&str> = Vec::new();
        for name in names
            .iter()
            .filter(|n| !compiled.templates.iter().any(|t| t.id == **n))
        {
            if !unknown.contains(name) {
                unknown.push(name);
            }
        }
        if !unknown.is_empty() {
            plan.warn(format!(
                "{INJECT_KEY}: no sidecar template named {}; known templates: {}",
                at_most(&unknown, 5),
                at_most(
                    &compiled
                        .templates
                        .iter()
                        .map(|t| t.id.as_str())
                        .collect::<Vec<_>>(),
                    10
                )
            ));
        }
    }
    let always: Vec<&str> = compiled
        .templates
        .iter()
        .filter(|t| t.injection == Injection::Always)
        .map(|t| t.id.as_str())
        .collect();
    if opted_out && !always.is_empty() {
        plan.warn(if compiled.allow_opt_out {
            format!("{INJECT_KEY}=false: the pod opted out of sidecar(s) the cluster injects by default: {}", always.join(", "))
        } else {
            format!(
                "{INJECT_KEY}=false ignored for {}: the cluster operator does not allow opting out (allowOptOut: false)",
                always.join(", ")
            )
        });
    }
    chosen
}

/// Adds the template's app mounts and env to one regular container, never
/// changing an entry it already has.
fn add_to_app_container<'t>(
    template: &'t Template,
    container: &Container,
    (mounts, paths, env): &mut (Vec<&'t str>, Vec<&'t str>, Vec<&'t str>),
    spec_at: &str,
    plan: &mut Plan,
) {
    let base = under(&under(spec_at, "containers"), &container.index.to_string());
    for (name, path, entry) in &template.app_mounts {
        let same_name = container.volume_mounts().any(|(n, _)| n == name) || mounts.contains(&name.as_str());
        let same_path = container.volume_mounts().any(|(_, p)| p == path) || paths.contains(&path.as_str());
        if same_path && !same_name {
            plan.warn(format!(
                "container {:?} already mounts something at {path:?}: sidecar template {:?} did not add its \
                 mount of volume {name:?} there",
                container.name, template.id
            ));
        }
        if !same_name && !same_path {
            mounts.push(name);
            paths.push(path);
            plan.edits.push(Edit::Insert {
                list: under(&base, "volumeMounts"),
                at: At::End,
                value: entry.clone(),
            });
        }
    }
    for (name, entry) in &template.app_env {
        if !container.has_env(name) && !env.contains(&name.as_str()) {
            env.push(name);
            plan.edits.push(Edit::Insert {
                list: under(&base, "env"),
                at: At::End,
                value: entry.clone(),
            });
        }
    }
}

/// `a, b, c and 7 more`: names for a warning, which kubectl truncates past 256 characters.
fn at_most(names: &[&str], shown: usize) -> String {
    let listed = names.iter().take(shown).copied().collect::<Vec<_>>().join(", ");
    match names.len().saturating_sub(shown) {
        0 => listed,
        more => format!("{listed} and {more} more"),
    }
}

fn find<'v>(volumes: &[(&str, &'v Rc<Value>)], name: &str) -> Option<&'v Value> {
    volumes.iter().find(|(n, _)| *n == name).map(|&(_, v)| &**v)
}

/// The status annotation: what earlier passes recorded (when readable) plus this pass.
pub(crate) fn status(
    previous: Option<&str>,
    injected: &[&Template],
    mode: Mode,
    why: Option<&str>,
) -> String {
    let earlier = previous
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|mut v| v.get_mut("injected").map(Value::take))
        .and_then(|v| match v {
            Value::Array(items) => Some(items),
            _ => None,
        })
        .unwrap_or_default();
    let status = Status {
        injected: earlier
            .into_iter()
            .map(StatusEntry::Earlier)
            .chain(injected.iter().map(|t| {
                StatusEntry::Now(Injected {
                    container: &t.container_name,
                    mode: mode.name(),
                    reason: why,
                    template: &t.id,
                })
            }))
            .collect(),
    };
    // Strings and JSON values only: printing them cannot fail.
    serde_json::to_string(&status).unwrap_or_default()
}

/// The status annotation's text, printed from these types: it is written
/// with every injection, and building a `Value` only to print it took a
/// quarter of the decision's time.
#[derive(Serialize)]
struct Status<'a> {
    injected: Vec<StatusEntry<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum StatusEntry<'a> {
    /// Recorded by an earlier pass, kept as it was read.
    Earlier(Value),
    Now(Injected<'a>),
}

/// One sidecar injected by this pass. The fields are in the order serde_json
/// prints a map (sorted), so that an entry reads the same when a later pass
/// copies it, and the text stays what Gatekeeper's rules match.
#[derive(Serialize)]
struct Injected<'a> {
    container: &'a str,
    mode: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    template: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::Snapshot;
    use crate::request::Request;
    use crate::settings::Settings;
    use rstest::rstest;
    use serde_json::json;

    fn compiled(sidecars: Value) -> Compiled {
        Settings::from_value(&json!({ "sidecars": sidecars }))
            .and_then(|s| s.compile())
            .expect("test settings are valid")
    }

    fn sidecar(id: &str, extra: Value) -> Value {
        let mut template =
            json!({"name": id, "container": {"name": id, "image": format!("example.io/{id}:1")}});
        if let (Some(t), Value::Object(extra)) = (template.as_object_mut(), extra) {
            t.extend(extra);
        }
        template
    }

    fn pod(annotations: Value, spec: Value) -> Value {
        json!({"operation": "CREATE", "kind": {"kind": "Pod"},
               "object": {"metadata": {"name": "p", "annotations": annotations}, "spec": spec}})
    }

    /// The plan's edits applied to the pod, and the plan's warnings.
    fn inject(compiled: &Compiled, request: &Value) -> (Value, Vec<String>) {
        let view = Request::from_admission_request(request).expect("well formed");
        let workload = view.workload().expect("well formed").expect("a pod");
        let mut plan = Plan::default();
        plan_injection(
            compiled,
            &workload,
            &NodeSupport::new(&compiled.native_support, &Snapshot::default()),
            &mut plan,
        );
        let mut object = view.object.clone();
        plan.apply_to(&mut object).expect("edits apply");
        (object, plan.warnings)
    }

    fn init_names(pod: &Value) -> Vec<&str> {
        pod.pointer("/spec/initContainers")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter_map(|c| c.get("name")?.as_str()).collect())
            .unwrap_or_default()
    }

    fn one(names: &[&str]) -> Value {
        Value::Array(
            names
                .iter()
                .map(|n| json!({"name": n, "image": "busybox"}))
                .collect(),
        )
    }

    #[rstest]
    #[case::no_init_containers(vec![("a", "first")], &[], &["a"])]
    #[case::first_goes_before_user_init(vec![("a", "first")], &["setup"], &["a", "setup"])]
    #[case::last_goes_after_user_init(vec![("a", "last")], &["setup"], &["setup", "a"])]
    #[case::firsts_keep_settings_order(vec![("a", "first"), ("b", "first")], &["setup"], &["a", "b", "setup"])]
    #[case::after_existing(vec![("a", "after:istio-proxy")], &["istio-init", "istio-proxy", "setup"], &["istio-init", "istio-proxy", "a", "setup"])]
    #[case::afters_keep_settings_order(vec![("a", "after:x"), ("b", "after:x")], &["x", "y"], &["x", "a", "b", "y"])]
    #[case::before_existing(vec![("a", "before:setup"), ("b", "before:setup")], &["x", "setup"], &["x", "a", "b", "setup"])]
    #[case::after_an_injected_one(vec![("a", "last"), ("b", "after:a")], &["x"], &["x", "a", "b"])]
    #[case::missing_anchor_falls_back_first(vec![("a", "first"), ("b", "after:nope")], &["x"], &["a", "b", "x"])]
    fn sidecars_are_placed_where_the_operator_says(
        #[case] templates: Vec<(&str, &str)>,
        #[case] existing: &[&str],
        #[case] expected: &[&str],
    ) {
        let settings = compiled(Value::Array(
            templates
                .iter()
                .map(|(id, position)| sidecar(id, json!({"position": position})))
                .collect(),
        ));
        let request = pod(
            json!({INJECT_KEY: "true"}),
            json!({"initContainers": one(existing), "containers": one(&["app"])}),
        );
        let (mutated, _) = inject(&settings, &request);
        assert_eq!(init_names(&mutated), expected);
    }

    #[rstest]
    #[case::nothing_asked(json!({}), &["always"], 0)]
    #[case::all_opt_in(json!({INJECT_KEY: "true"}), &["opt", "other", "always"], 0)]
    #[case::named(json!({INJECT_KEY: " other , ghost"}), &["other", "always"], 1)]
    #[case::opt_out(json!({INJECT_KEY: "False"}), &[], 1)]
    fn the_pod_chooses_among_templates(
        #[case] annotations: Value,
        #[case] expected: &[&str],
        #[case] warnings: usize,
    ) {
        let settings = compiled(json!([
            sidecar("opt", json!({})),
            sidecar("other", json!({})),
            sidecar("always", json!({"injection": "always", "position": "last"}))
        ]));
        let (mutated, warned) = inject(&settings, &pod(annotations, json!({"containers": one(&["app"])})));
        assert_eq!(init_names(&mutated), expected);
        assert_eq!(warned.len(), warnings, "{warned:?}");
    }

    #[test]
    fn the_label_opts_in_for_object_selectors() {
        let settings = compiled(json!([sidecar("opt", json!({}))]));
        let mut request = pod(json!({}), json!({"containers": one(&["app"])}));
        if let Some(metadata) = request
            .pointer_mut("/object/metadata")
            .and_then(Value::as_object_mut)
        {
            metadata.insert("labels".into(), json!({INJECT_KEY: "true"}));
        }
        assert_eq!(init_names(&inject(&settings, &request).0), ["opt"]);
    }

    #[test]
    fn opt_out_can_be_disallowed() {
        let settings = Settings::from_value(&json!({"allowOptOut": false,
                "sidecars": [sidecar("always", json!({"injection": "always"}))]}))
        .and_then(|s| s.compile())
        .expect("valid");
        let (mutated, warnings) = inject(
            &settings,
            &pod(json!({INJECT_KEY: "false"}), json!({"containers": one(&["app"])})),
        );
        assert_eq!(init_names(&mutated), ["always"]);
        assert!(
            warnings.iter().any(|w| w.contains("allowOptOut: false")),
            "{warnings:?}"
        );
    }

    #[rstest]
    #[case::skipped_with_warning(json!({INJECT_KEY: "true"}), false, 0, 1)]
    #[case::allowed(json!({INJECT_KEY: "true"}), true, 1, 0)]
    fn host_network_pods(
        #[case] annotations: Value,
        #[case] allowed: bool,
        #[case] injected: usize,
        #[case] warnings: usize,
    ) {
        let settings = Settings::from_value(
            &json!({"injectHostNetworkPods": allowed, "sidecars": [sidecar("s", json!({}))]}),
        )
        .and_then(|s| s.compile())
        .expect("valid");
        let (mutated, warned) = inject(
            &settings,
            &pod(
                annotations,
                json!({"hostNetwork": true, "containers": one(&["app"])}),
            ),
        );
        assert_eq!(init_names(&mutated).len(), injected);
        assert_eq!(warned.len(), warnings);
    }

    #[test]
    fn volumes_mounts_and_env_are_added_where_absent_and_never_changed() {
        let settings = compiled(json!([sidecar(
            "log",
            json!({
            "volumes": [{"name": "logs", "emptyDir": {}}, {"name": "certs", "secret": {"secretName": "c"}}],
            "appContainers": {"volumeMounts": [{"name": "logs", "mountPath": "/var/log/app"}],
                              "env": [{"name": "LOG_DIR", "value": "/var/log/app"}]}})
        )]));
        let spec = json!({
            "volumes": [{"name": "certs", "secret": {"secretName": "c", "defaultMode": 420}}],
            "containers": [
                {"name": "a", "image": "a"},
                {"name": "b", "image": "b", "env": [{"name": "LOG_DIR", "value": "/mine"}],
                 "volumeMounts": [{"name": "logs", "mountPath": "/elsewhere"}]}]});
        let (mutated, warnings) = inject(&settings, &pod(json!({INJECT_KEY: "log"}), spec));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            mutated.pointer("/spec/volumes"),
            Some(
                &json!([{"name": "certs", "secret": {"secretName": "c", "defaultMode": 420}}, {"name": "logs", "emptyDir": {}}])
            )
        );
        assert_eq!(
            mutated.pointer("/spec/containers"),
            Some(&json!([
                {"name": "a", "image": "a", "volumeMounts": [{"name": "logs", "mountPath": "/var/log/app"}],
                 "env": [{"name": "LOG_DIR", "value": "/var/log/app"}]},
                {"name": "b", "image": "b", "env": [{"name": "LOG_DIR", "value": "/mine"}],
                 "volumeMounts": [{"name": "logs", "mountPath": "/elsewhere"}]}]))
        );
    }

    #[rstest]
    #[case::conflicting_volume(json!({"volumes": [{"name": "logs", "hostPath": {"path": "/x"}}], "containers": one(&["app"])}), "a volume named \"logs\" that is not the one")]
    #[case::missing_pod_volume(json!({"containers": one(&["app"])}), "mounts volume \"pod-data\"")]
    #[case::name_taken(json!({"containers": one(&["log"])}), "already has a container named \"log\"")]
    fn templates_that_would_break_the_pod_are_skipped_with_a_warning(
        #[case] spec: Value,
        #[case] warning: &str,
    ) {
        let settings = compiled(json!([sidecar(
            "log",
            json!({
            "container": {"name": "log", "image": "i", "volumeMounts": [{"name": "pod-data", "mountPath": "/d"}]},
            "volumes": [{"name": "logs", "emptyDir": {}}]})
        )]));
        let request = pod(json!({INJECT_KEY: "true"}), spec);
        let (mutated, warnings) = inject(&settings, &request);
        assert_eq!(Some(&mutated), request.get("object"), "nothing added");
        assert!(warnings.iter().any(|w| w.contains(warning)), "{warnings:?}");
    }

    #[test]
    fn status_records_what_was_injected_and_a_second_pass_adds_nothing() {
        let settings = compiled(json!([
            sidecar("a", json!({})),
            sidecar("b", json!({"position": "last"}))
        ]));
        let request = pod(
            json!({INJECT_KEY: "a,b"}),
            json!({"initContainers": one(&["setup"]), "containers": one(&["app"])}),
        );
        let (mutated, _) = inject(&settings, &request);
        let status: Value = mutated
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(STATUS_KEY))
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str(s).ok())
            .expect("status annotation");
        assert_eq!(
            status,
            json!({"injected": [
            {"template": "a", "container": "a", "mode": "native"},
            {"template": "b", "container": "b", "mode": "native"}]})
        );

        let again = json!({"operation": "CREATE", "kind": {"kind": "Pod"}, "object": mutated});
        let (twice, warnings) = inject(&settings, &again);
        assert_eq!(Some(&twice), again.get("object"));
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
