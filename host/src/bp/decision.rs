//! How a BP plugin's answer becomes a storage change and reporting events.
//!
//! Everything here is pure: the scheduler applies the [`Planned`] records in
//! one storage transaction and emits the events of those that applied.

use std::time::Duration;

use ixn_plugin_api::storage::{self as st, DecisionRecord, Outcome};

use crate::events::{Endpoint, Event, EventBus, EventKind, sink_value};
use crate::wasm::CallError;
use crate::wasm::bindings as bp;

/// Where a decision was made.
pub struct Site<'a> {
    /// The business process.
    pub business_process: &'a str,
    /// The queue the interaction was pulled from.
    pub queue: &'a str,
    /// The view that pulled it.
    pub view: &'a str,
    /// The strategy that decided.
    pub strategy: &'a str,
    /// The version (content hash) of the strategy's component that decided.
    pub component_version: &'a str,
    /// The process's error queue.
    pub error_queue: &'a str,
    /// The view's check interval (how long `keep` hides an interaction).
    pub check_interval: Duration,
    /// The lease owner.
    pub owner: &'a str,
}

/// One decision, ready to apply.
pub struct Planned {
    /// The storage change.
    pub record: DecisionRecord,
    /// Events to emit once it applied.
    pub events: Vec<Event>,
    /// The queue it lands in, to wake that queue's views.
    pub placed_in: Option<String>,
    /// Whether it sends the interaction to the error queue because the call
    /// failed or its decision cannot be stored.
    pub failure: bool,
}

/// Attached data as the guest sees it.
pub fn to_bp_value(v: &st::Value) -> bp::Value {
    match v {
        st::Value::Str(s) => bp::Value::Str(s.clone()),
        st::Value::Int(i) => bp::Value::Int(*i),
        st::Value::Float(f) => bp::Value::Float(*f),
        st::Value::Boolean(b) => bp::Value::Boolean(*b),
        st::Value::Timestamp(t) => bp::Value::Timestamp(*t),
    }
}

fn from_bp_value(v: bp::Value) -> st::Value {
    match v {
        bp::Value::Str(s) => st::Value::Str(s),
        bp::Value::Int(i) => st::Value::Int(i),
        bp::Value::Float(f) => st::Value::Float(f),
        bp::Value::Boolean(b) => st::Value::Boolean(b),
        bp::Value::Timestamp(t) => st::Value::Timestamp(t),
    }
}

/// The lean record a BP component gets.
pub fn to_bp_interaction(ix: &st::Interaction) -> bp::Interaction {
    bp::Interaction {
        id: ix.id.clone(),
        tenant: ix.tenant.clone(),
        media_type: ix.media_type.clone(),
        interaction_type: ix.interaction_type.clone(),
        interaction_subtype: ix.interaction_subtype.clone(),
        queue: ix.queue.clone(),
        priority: ix.priority,
        submitted_by: ix.submitted_by.clone(),
        submitted_at: ix.submitted_at,
        placed_in_queue_at: ix.placed_in_queue_at,
        properties: ix
            .properties
            .iter()
            .map(|p| bp::Property {
                key: p.key.clone(),
                value: to_bp_value(&p.value),
            })
            .collect(),
    }
}

/// Events of taking an interaction from its queue and handing it to a strategy.
pub fn taken_events(bus: &EventBus, ix: &st::Interaction, site: &Site, now: i64) -> [Event; 2] {
    let userdata = bus.userdata_of(&ix.properties);
    let mut taken = Event::interaction(
        EventKind::TakenFromQueue,
        Some(Endpoint::Queue),
        &ix.id,
        now,
    )
    .attr("queue", site.queue)
    .attr("view", site.view)
    .attr("actor", site.view);
    taken.userdata = userdata.clone();
    let mut added =
        Event::interaction(EventKind::PartyAdded, Some(Endpoint::Strategy), &ix.id, now)
            .attr("party", site.strategy)
            .attr("queue", site.queue)
            .attr("component_version", site.component_version);
    added.userdata = userdata;
    [taken, added]
}

/// Plans a decision the strategy returned. A move to a queue that does not
/// exist, or a property that its custom field (or the blob) cannot hold, is
/// the strategy's error: the interaction goes to the error queue, and no
/// storage call is spent on a decision that would be refused.
pub fn plan_decision(
    bus: &EventBus,
    ix: &st::Interaction,
    decision: bp::Decision,
    site: &Site,
    queue_exists: impl Fn(&str) -> bool,
    custom_fields: &[st::CustomField],
    now: i64,
) -> Planned {
    if let bp::Action::MoveToQueue(q) = &decision.action
        && !queue_exists(q)
    {
        return plan_failure(
            bus,
            ix,
            &CallError::Guest(format!("decision moves to unknown queue `{q}`")),
            site,
            now,
        );
    }
    let set: Vec<st::Property> = decision
        .set_properties
        .into_iter()
        .map(|p| st::Property {
            key: p.key,
            value: from_bp_value(p.value),
        })
        .collect();
    if let Some(why) = set
        .iter()
        .find_map(|p| st::check_property(custom_fields, &p.key, &p.value).err())
    {
        return plan_failure(bus, ix, &format!("decision refused: {why}"), site, now);
    }
    let (outcome, placed_in) = match decision.action {
        bp::Action::MoveToQueue(q) => (Outcome::MoveToQueue(q.clone()), Some(q)),
        bp::Action::Stop(reason) => (Outcome::Stop(reason), None),
        bp::Action::Keep => (
            Outcome::Release(Some(now + site.check_interval.as_millis() as i64)),
            Some(site.queue.to_string()),
        ),
        bp::Action::HoldUntil(t) => (Outcome::Release(Some(t)), Some(site.queue.to_string())),
    };
    let record = DecisionRecord {
        id: ix.id.clone(),
        owner: site.owner.to_string(),
        outcome,
        set_properties: set,
        remove_properties: decision.remove_properties,
        component_version: Some(site.component_version.to_string()),
        now,
    };
    let events = outcome_events(bus, ix, &record, site, Cause::Decided);
    Planned {
        record,
        events,
        placed_in,
        failure: false,
    }
}

/// Plans putting an interaction back untouched (the strategy was not called).
pub fn plan_release(
    bus: &EventBus,
    ix: &st::Interaction,
    site: &Site,
    now: i64,
    reason: &str,
) -> Planned {
    let record = DecisionRecord {
        id: ix.id.clone(),
        owner: site.owner.to_string(),
        outcome: Outcome::Release(None),
        set_properties: Vec::new(),
        remove_properties: Vec::new(),
        component_version: None,
        now,
    };
    let events = outcome_events(bus, ix, &record, site, Cause::NotCalled(reason));
    Planned {
        record,
        events,
        placed_in: Some(site.queue.to_string()),
        failure: false,
    }
}

/// Plans the error-queue move for a call that failed or a decision that was
/// refused; the reason goes into the interaction's attached data
/// (`ErrorReason`, `ErrorStrategy`, `ErrorView`, `ErrorAt`).
pub fn plan_failure(
    bus: &EventBus,
    ix: &st::Interaction,
    error: &dyn std::fmt::Display,
    site: &Site,
    now: i64,
) -> Planned {
    error_move(bus, ix, &error.to_string(), site, now, true)
}

/// Plans the error-queue move without touching attached data: the last resort
/// when even the error properties of [`plan_failure`] were refused (say,
/// `ErrorReason` is mapped to a custom field too short for the reason).
pub fn plan_failure_without_data(
    bus: &EventBus,
    ix: &st::Interaction,
    error: &dyn std::fmt::Display,
    site: &Site,
    now: i64,
) -> Planned {
    error_move(bus, ix, &error.to_string(), site, now, false)
}

fn error_move(
    bus: &EventBus,
    ix: &st::Interaction,
    reason: &str,
    site: &Site,
    now: i64,
    with_data: bool,
) -> Planned {
    let prop = |k: &str, v: st::Value| st::Property {
        key: k.to_string(),
        value: v,
    };
    let set_properties = if with_data {
        vec![
            prop("ErrorReason", st::Value::Str(reason.to_string())),
            prop("ErrorStrategy", st::Value::Str(site.strategy.to_string())),
            prop("ErrorView", st::Value::Str(site.view.to_string())),
            prop("ErrorAt", st::Value::Timestamp(now)),
        ]
    } else {
        Vec::new()
    };
    let record = DecisionRecord {
        id: ix.id.clone(),
        owner: site.owner.to_string(),
        outcome: Outcome::MoveToQueue(site.error_queue.to_string()),
        set_properties,
        remove_properties: Vec::new(),
        component_version: Some(site.component_version.to_string()),
        now,
    };
    let events = outcome_events(bus, ix, &record, site, Cause::Failed(reason));
    Planned {
        record,
        events,
        placed_in: Some(site.error_queue.to_string()),
        failure: true,
    }
}

/// The EventCustomReporting events of what a strategy gave `report` while
/// handling `ix`: `custom_event_id`, the strategy as `actor`, and each
/// content property as `content.<key>`.
pub fn report_events(
    ix: &st::Interaction,
    reports: &[crate::wasm::Report],
    site: &Site,
    now: i64,
) -> Vec<Event> {
    reports
        .iter()
        .map(|r| {
            let mut e = Event::interaction(EventKind::CustomReporting, None, &ix.id, now)
                .attr_value(
                    crate::events::logger::CUSTOM_EVENT_ID,
                    ixn_plugin_api::sink::Value::Int(i64::from(r.custom_event_id)),
                )
                .attr("actor", site.strategy);
            for p in &r.content {
                e = e.attr_value(
                    &format!("content.{}", p.key),
                    sink_value(&from_bp_value(p.value.clone())),
                );
            }
            e
        })
        .collect()
}

/// Why a record is applied: it decides the `reason` attributes of its events.
enum Cause<'a> {
    /// The strategy decided.
    Decided,
    /// The call failed for this reason; the interaction goes to the error queue.
    Failed(&'a str),
    /// The strategy was not called (for this reason); the interaction goes back.
    NotCalled(&'a str),
}

fn outcome_events(
    bus: &EventBus,
    ix: &st::Interaction,
    record: &DecisionRecord,
    site: &Site,
    cause: Cause<'_>,
) -> Vec<Event> {
    let now = record.now;
    // Attached data after the change, for mapped custom data.
    let mut after = ix.properties.clone();
    after.retain(|p| {
        !record.remove_properties.contains(&p.key)
            && !record.set_properties.iter().any(|s| s.key == p.key)
    });
    after.extend(record.set_properties.iter().cloned());
    let userdata = bus.userdata_of(&after);
    let with = |mut e: Event| {
        e.userdata = userdata.clone();
        e
    };
    let mut events = Vec::with_capacity(3);
    if !record.set_properties.is_empty() || !record.remove_properties.is_empty() {
        let mut e = Event::interaction(EventKind::PropertiesChanged, None, &ix.id, now)
            .attr("actor", site.strategy);
        for p in &record.set_properties {
            e = e.attr_value(&format!("changed.{}", p.key), sink_value(&p.value));
        }
        if !record.remove_properties.is_empty() {
            e = e.attr("removed", record.remove_properties.join(","));
        }
        events.push(with(e));
    }
    let mut removed = Event::interaction(
        EventKind::PartyRemoved,
        Some(Endpoint::Strategy),
        &ix.id,
        now,
    )
    .attr("party", site.strategy)
    .attr("queue", site.queue)
    .attr("component_version", site.component_version);
    if let Cause::Failed(reason) = cause {
        removed = removed.attr("reason", reason);
    }
    events.push(with(removed));
    let placed = |queue: &str, reason: &str| {
        Event::interaction(EventKind::PlacedInQueue, Some(Endpoint::Queue), &ix.id, now)
            .attr("queue", queue)
            .attr("from_queue", site.queue)
            .attr("actor", site.strategy)
            .attr("reason", reason)
    };
    events.push(with(match &record.outcome {
        Outcome::MoveToQueue(q) => placed(
            q,
            if matches!(cause, Cause::Failed(_)) {
                "error"
            } else {
                "moved"
            },
        ),
        Outcome::Release(Some(at)) => placed(site.queue, "held")
            .attr_value("scheduled_at", ixn_plugin_api::sink::Value::Timestamp(*at)),
        Outcome::Release(None) => match cause {
            Cause::NotCalled(reason) => placed(site.queue, reason),
            _ => placed(site.queue, "kept"),
        },
        Outcome::Stop(reason) => {
            Event::interaction(EventKind::ProcessingStopped, None, &ix.id, now)
                .attr("queue", site.queue)
                .attr("business_process", site.business_process)
                .attr("actor", site.strategy)
                .attr("reason", reason.as_str())
        }
    }));
    events
}
