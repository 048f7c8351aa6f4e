//! The reporting events of the original, with their classification (seed,
//! "Classification of Events in Event Logger") and fixed numeric ids.
//!
//! The original's ids are public only for EventRejected (168); every other id
//! here is ixn's own, fixed and documented in the README, never reused.

/// Which table an event belongs to (the seed's "activity").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// `rpt_interaction`
    Interaction,
    /// `rpt_agent`
    Agent,
    /// `rpt_esp`
    Esp,
    /// `rpt_custom`
    Custom,
}

impl Activity {
    /// As the sink contract spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Interaction => "interaction",
            Activity::Agent => "agent",
            Activity::Esp => "esp",
            Activity::Custom => "custom",
        }
    }
}

/// What an event is about (the seed's "endpoint"), used by `event-filtering`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// A queue or workbin (`log-queue`).
    Queue,
    /// A BP plugin (`log-strategy`).
    Strategy,
    /// An agent (`log-agent-activity`).
    Agent,
    /// An agent's state (`log-agent-state`).
    AgentState,
    /// An external service (`log-esp-service`).
    Esp,
}

impl Endpoint {
    /// As the sink contract spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Queue => "queue",
            Endpoint::Strategy => "strategy",
            Endpoint::Agent => "agent",
            Endpoint::AgentState => "agent-state",
            Endpoint::Esp => "esp",
        }
    }
}

macro_rules! kinds {
    ($($variant:ident = $id:literal, $name:literal, $activity:ident;)*) => {
        /// A reporting event type.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind { $(
            #[doc = $name]
            $variant
        ),* }

        impl EventKind {
            /// Every event type, in id order of the table below.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant),*];
            /// The numeric id used by `event-filter-by-id`.
            pub fn id(self) -> u32 { match self { $(EventKind::$variant => $id),* } }
            /// The original's name.
            pub fn name(self) -> &'static str { match self { $(EventKind::$variant => $name),* } }
            /// The table it belongs to.
            pub fn activity(self) -> Activity { match self { $(EventKind::$variant => Activity::$activity),* } }
        }
    };
}

kinds! {
    PropertiesChanged = 151, "EventPropertiesChanged", Interaction;
    PartyAdded = 152, "EventPartyAdded", Interaction;
    PartyRemoved = 153, "EventPartyRemoved", Interaction;
    Revoked = 154, "EventRevoked", Interaction;
    InteractionSubmitted = 155, "EventInteractionSubmitted", Interaction;
    ProcessingStopped = 156, "EventProcessingStopped", Interaction;
    Held = 157, "EventHeld", Interaction;
    Resumed = 158, "EventResumed", Interaction;
    PlacedInQueue = 159, "EventPlacedInQueue", Interaction;
    PlacedInWorkbin = 160, "EventPlacedInWorkbin", Interaction;
    AgentInvited = 161, "EventAgentInvited", Interaction;
    Rejected = 168, "EventRejected", Interaction;
    TakenFromQueue = 162, "EventTakenFromQueue", Interaction;
    TakenFromWorkbin = 163, "EventTakenFromWorkbin", Interaction;
    AgentLogin = 170, "EventAgentLogin", Agent;
    AgentLogout = 171, "EventAgentLogout", Agent;
    DoNotDisturbOn = 172, "EventDoNotDisturbOn", Agent;
    DoNotDisturbOff = 173, "EventDoNotDisturbOff", Agent;
    MediaAdded = 174, "EventMediaAdded", Agent;
    MediaRemoved = 175, "EventMediaRemoved", Agent;
    NotReadyForMedia = 176, "EventNotReadyForMedia", Agent;
    ReadyForMedia = 177, "EventReadyForMedia", Agent;
    AgentStateReasonChanged = 178, "EventAgentStateReasonChanged", Agent;
    MediaStateReasonChanged = 179, "EventMediaStateReasonChanged", Agent;
    ExternalServiceRequested = 180, "EventExternalServiceRequested", Esp;
    ExternalServiceResponded = 181, "EventExternalServiceResponded", Esp;
    CustomReporting = 182, "EventCustomReporting", Custom;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_rejected_is_168() {
        let mut ids: Vec<u32> = EventKind::ALL.iter().map(|k| k.id()).collect();
        assert_eq!(ids.len(), 27, "the seed lists 27 events");
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 27);
        assert_eq!(EventKind::Rejected.id(), 168);
    }
}
