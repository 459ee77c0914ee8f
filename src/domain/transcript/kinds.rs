//! What the analysis names: client rupture markers (after the Rupture Resolution Rating System,
//! 3RS; Eubanks, Muran & Safran 2015) and therapist moves (MITI-style counts and the
//! alliance-building moves of docs/methodology.md, section 14). Each kind's stored name is its
//! serde name; an unknown name is an error, never a default.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who speaks a turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Therapist,
    Client,
    /// Anyone else present (an interpreter, a parent); counted, never analysed.
    Other,
}

/// The two 3RS families of rupture markers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Moving away from the therapist or the work.
    Withdrawal,
    /// Moving against the therapist or the work.
    Confrontation,
}

macro_rules! named_kinds {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant,)* }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|kind| kind.as_str() == raw)
            }
        }
    };
}

named_kinds! {
    /// A client rupture marker.
    MarkerKind {
        /// Withdrawal: a very short answer to an open question.
        MinimalResponse = "minimal_response",
        /// Withdrawal: denying a feeling or problem ("I'm fine, it doesn't bother me").
        Denial = "denial",
        /// Withdrawal: leaving the subject the therapist raised.
        TopicShift = "topic_shift",
        /// Withdrawal: appeasing or deferring ("whatever you think").
        Deferential = "deferential",
        /// Withdrawal: general, impersonal talk in answer to a question about oneself.
        AbstractTalk = "abstract_talk",
        /// Confrontation: about the therapist.
        ComplaintTherapist = "complaint_therapist",
        /// Confrontation: about the activities of therapy.
        ComplaintActivities = "complaint_activities",
        /// Confrontation: about its parameters (time, frequency, cost).
        ComplaintParameters = "complaint_parameters",
        /// Confrontation: about progress.
        ComplaintProgress = "complaint_progress",
        /// Confrontation: rejecting an intervention or interpretation.
        RejectingIntervention = "rejecting_intervention",
        /// Confrontation: defending oneself against the therapist.
        DefendingSelf = "defending_self",
        /// Confrontation: pressing to control the session.
        Controlling = "controlling",
    }
}

impl MarkerKind {
    pub fn family(self) -> Family {
        match self {
            MarkerKind::MinimalResponse
            | MarkerKind::Denial
            | MarkerKind::TopicShift
            | MarkerKind::Deferential
            | MarkerKind::AbstractTalk => Family::Withdrawal,
            _ => Family::Confrontation,
        }
    }
}

named_kinds! {
    /// A therapist move.
    MoveKind {
        /// Asking for feedback on the session, the work or the relationship.
        FeedbackElicited = "feedback_elicited",
        /// Collaborative agenda or goal talk.
        AgendaCollaboration = "agenda_collaboration",
        /// Saying the client's experience is understandable.
        Validation = "validation",
        /// Acknowledging one's own part in a difficulty.
        AcknowledgingOwnPart = "acknowledging_own_part",
        /// Inviting talk about the relationship (metacommunication).
        RelationshipInvitation = "relationship_invitation",
        /// A statement reflecting the client's meaning (MITI).
        Reflection = "reflection",
        /// An open question (MITI).
        QuestionOpen = "question_open",
        /// A closed question (MITI).
        QuestionClosed = "question_closed",
    }
}

/// What a lexicon entry names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    Marker(MarkerKind),
    Move(MoveKind),
}

impl Category {
    pub fn parse(raw: &str) -> Option<Self> {
        MarkerKind::parse(raw).map(Category::Marker).or_else(|| MoveKind::parse(raw).map(Category::Move))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Marker(kind) => kind.as_str(),
            Category::Move(kind) => kind.as_str(),
        }
    }
}

/// How strongly an entry or rule indicates its kind (after the 3RS impact ratings, in three steps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strength {
    Low,
    #[default]
    Moderate,
    High,
}
