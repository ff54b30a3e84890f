//! Prometheus metrics, served at `/metrics` (text exposition format).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry as PromRegistry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VisibilityLabel {
    pub visibility: String,
}

/// Every metric the server keeps. Cheap to update from any task (atomics).
pub struct Metrics {
    registry: PromRegistry,
    pub rooms: Gauge,
    pub participants: Family<VisibilityLabel, Gauge>,
    pub connections: Gauge,
    pub messages_out: Counter,
    pub events: Family<KindLabel, Counter>,
    pub host_actions: Family<ActionLabels, Counter>,
    pub errors: Family<CodeLabel, Counter>,
    pub fanout_seconds: Histogram,
    pub store_write_seconds: Histogram,
    pub audit_suppressed: Counter,
    pub audit_dropped: Family<KindLabel, Counter>,
    pub audit_pruned: Counter,
    pub media_sessions: Gauge,
    pub media_datagrams: Family<DirectionLabel, Counter>,
    pub media_bytes: Family<DirectionLabel, Counter>,
    pub media_packets_forwarded: Counter,
    pub media_dropped: Family<ReasonLabel, Counter>,
    pub media_rtt_seconds: Histogram,
    pub media_loss_ratio: Family<DirectionLabel, Histogram, fn() -> Histogram>,
    pub tls_reloads: Counter,
    pub tls_reload_failures: Counter,
    pub acme_orders: Family<OutcomeLabel, Counter>,
    pub turn_allocations: Gauge,
    pub turn_relayed_bytes: Counter,
    pub turn_refused: Family<ReasonLabel, Counter>,
    pub cluster_forwarded: Family<OutcomeLabel, Counter>,
    pub cluster_edge_messages: Family<DirectionLabel, Counter>,
    pub cluster_edge_resyncs: Counter,
    pub cluster_readmitted: Family<OutcomeLabel, Counter>,
    pub cluster_bus_dropped: Counter,
    pub webhook_deliveries: Family<EndpointOutcome, Counter>,
    pub webhook_pending: Family<EndpointLabel, Gauge>,
    pub webhook_unqueued: Counter,
    pub sessions_suspended: Counter,
    pub sessions_resumed: Family<OutcomeLabel, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    pub endpoint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointOutcome {
    pub endpoint: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabel {
    pub direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = PromRegistry::with_prefix("gavel");
        let m = Metrics {
            rooms: Gauge::default(),
            participants: Family::default(),
            connections: Gauge::default(),
            messages_out: Counter::default(),
            events: Family::default(),
            host_actions: Family::default(),
            errors: Family::default(),
            // 10 µs … ~5 s
            fanout_seconds: Histogram::new(exponential_buckets(0.00001, 2.5, 15)),
            store_write_seconds: Histogram::new(exponential_buckets(0.00001, 2.5, 15)),
            audit_suppressed: Counter::default(),
            audit_dropped: Family::default(),
            audit_pruned: Counter::default(),
            media_sessions: Gauge::default(),
            media_datagrams: Family::default(),
            media_bytes: Family::default(),
            media_packets_forwarded: Counter::default(),
            media_dropped: Family::default(),
            // 1 ms … ~4 s
            media_rtt_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 13)),
            media_loss_ratio: Family::new_with_constructor(loss_histogram),
            tls_reloads: Counter::default(),
            tls_reload_failures: Counter::default(),
            acme_orders: Family::default(),
            turn_allocations: Gauge::default(),
            turn_relayed_bytes: Counter::default(),
            cluster_forwarded: Family::default(),
            cluster_edge_messages: Family::default(),
            cluster_edge_resyncs: Counter::default(),
            cluster_readmitted: Family::default(),
            cluster_bus_dropped: Counter::default(),
            turn_refused: Family::default(),
            webhook_deliveries: Family::default(),
            webhook_pending: Family::default(),
            webhook_unqueued: Counter::default(),
            sessions_suspended: Counter::default(),
            sessions_resumed: Family::default(),
            registry: PromRegistry::default(),
        };
        registry.register("rooms", "Open rooms", m.rooms.clone());
        registry.register(
            "participants",
            "Participants in rooms, by visibility (present or hidden)",
            m.participants.clone(),
        );
        registry.register(
            "connections",
            "Open WebSocket connections",
            m.connections.clone(),
        );
        registry.register(
            "messages_out",
            "Messages queued to clients",
            m.messages_out.clone(),
        );
        registry.register(
            "events",
            "Events emitted by rooms, by type",
            m.events.clone(),
        );
        registry.register(
            "host_actions",
            "Host actions by action and outcome (ok or an error code)",
            m.host_actions.clone(),
        );
        registry.register(
            "errors",
            "Errors returned to callers, by code",
            m.errors.clone(),
        );
        registry.register(
            "fanout_seconds",
            "Time to queue one event for all of its recipients",
            m.fanout_seconds.clone(),
        );
        registry.register(
            "store_write_seconds",
            "Time of one durable store commit (a ban, or a batch of audit and session rows)",
            m.store_write_seconds.clone(),
        );
        registry.register(
            "audit_suppressed",
            "Refused host actions not written to the audit log: over the per-actor rate (counted in the next entry's `suppressed`)",
            m.audit_suppressed.clone(),
        );
        registry.register(
            "audit_dropped",
            "Audit and session records not written because the writer's queue was full, by kind (refused, action, session)",
            m.audit_dropped.clone(),
        );
        registry.register(
            "media_sessions",
            "Open media (WebRTC) sessions",
            m.media_sessions.clone(),
        );
        registry.register(
            "media_datagrams",
            "UDP datagrams of the media plane, by direction (in, out)",
            m.media_datagrams.clone(),
        );
        registry.register(
            "media_bytes",
            "Bytes of the media plane, by direction (in, out)",
            m.media_bytes.clone(),
        );
        registry.register(
            "media_packets_forwarded",
            "RTP media packets written to a receiver",
            m.media_packets_forwarded.clone(),
        );
        registry.register(
            "media_rtt_seconds",
            "Round-trip time of media sessions, one sample per session every 2 s",
            m.media_rtt_seconds.clone(),
        );
        registry.register(
            "media_loss_ratio",
            "Packet loss of media sessions (fraction), by direction (in: from the client, out: to it), one sample per session every 2 s",
            m.media_loss_ratio.clone(),
        );
        registry.register(
            "media_dropped",
            "Media not forwarded, by reason (muted, not_allowed, over_limit, unknown)",
            m.media_dropped.clone(),
        );
        registry.register(
            "audit_pruned",
            "Audit entries deleted by retention (age and row limits)",
            m.audit_pruned.clone(),
        );
        registry.register(
            "tls_reloads",
            "Certificates reloaded (SIGHUP or changed files)",
            m.tls_reloads.clone(),
        );
        registry.register(
            "tls_reload_failures",
            "Certificate reloads that failed (the previous certificate stayed in use)",
            m.tls_reload_failures.clone(),
        );
        registry.register(
            "acme_orders",
            "Certificate orders through ACME, by outcome (issued, failed)",
            m.acme_orders.clone(),
        );
        registry.register(
            "turn_allocations",
            "TURN relay allocations open",
            m.turn_allocations.clone(),
        );
        registry.register(
            "turn_relayed_bytes",
            "Bytes the TURN relay sent to the media plane",
            m.turn_relayed_bytes.clone(),
        );
        registry.register(
            "turn_refused",
            "TURN requests and packets refused, by reason (credentials, expired, capacity, allocations, ports, peer, bitrate)",
            m.turn_refused.clone(),
        );
        registry.register(
            "cluster_forwarded_calls",
            "Server-API calls forwarded to the node that owns their room, by outcome (answered, not_here, unanswered)",
            m.cluster_forwarded.clone(),
        );
        registry.register(
            "cluster_edge_messages",
            "Room messages between owners and edges (sent: to edges; received: from owners); one per edge per event",
            m.cluster_edge_messages.clone(),
        );
        registry.register(
            "cluster_edge_resyncs",
            "Gaps in an owner's messages that made this edge ask it to resynchronise",
            m.cluster_edge_resyncs.clone(),
        );
        registry.register(
            "cluster_readmitted",
            "Sessions this edge admitted again after their room's owner was gone, by outcome (ok, refused)",
            m.cluster_readmitted.clone(),
        );
        registry.register(
            "cluster_bus_dropped",
            "Bus messages dropped because this node's inbox was full",
            m.cluster_bus_dropped.clone(),
        );
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by endpoint and outcome (delivered, failed: to be retried, dropped: past the retry period or the endpoint's bound)",
            m.webhook_deliveries.clone(),
        );
        registry.register(
            "webhook_pending",
            "Webhook events waiting in the outbox, by endpoint",
            m.webhook_pending.clone(),
        );
        registry.register(
            "webhook_unqueued",
            "Webhook events that found the outbox writer's queue full (the store stalled) and were never queued",
            m.webhook_unqueued.clone(),
        );
        registry.register(
            "sessions_suspended",
            "Sessions whose connection broke and that waited for their client to resume",
            m.sessions_suspended.clone(),
        );
        registry.register(
            "sessions_resumed",
            "Suspended sessions by how they ended: resumed (missed messages replayed), snapshot (resumed with a fresh snapshot), expired (the grace period passed), refused (no such session)",
            m.sessions_resumed.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Counts a forwarded call by its outcome.
    pub fn forwarded(&self, outcome: &'static str) {
        self.cluster_forwarded
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    pub fn edge_message(&self, direction: &'static str) {
        self.cluster_edge_messages
            .get_or_create(&DirectionLabel { direction })
            .inc();
    }

    pub fn webhook(&self, endpoint: &str, outcome: &'static str, n: u64) {
        self.webhook_deliveries
            .get_or_create(&EndpointOutcome {
                endpoint: endpoint.to_string(),
                outcome,
            })
            .inc_by(n);
    }

    pub fn resume(&self, outcome: &'static str) {
        self.sessions_resumed
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    /// Counts an ACME order by its outcome.
    pub fn acme_order(&self, outcome: &'static str) {
        self.acme_orders
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    }

    pub fn error(&self, code: gavel_core::ErrorCode) {
        self.errors
            .get_or_create(&CodeLabel {
                code: code.as_str().to_string(),
            })
            .inc();
    }

    pub fn participants_delta(&self, present: i64, hidden: i64) {
        for (visibility, d) in [("present", present), ("hidden", hidden)] {
            if d != 0 {
                self.participants
                    .get_or_create(&VisibilityLabel {
                        visibility: visibility.into(),
                    })
                    .inc_by(d);
            }
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Loss fractions: 0.1 % … 50 %.
fn loss_histogram() -> Histogram {
    Histogram::new([0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5])
}
