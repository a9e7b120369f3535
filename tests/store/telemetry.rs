//! Telemetry: a `tracing` span per command with OpenTelemetry's database
//! attributes, and never a key or a value in one. (The metrics are tested in
//! `tests/metrics.rs`, a binary of their own: their recorder is global.)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use pgkv_suite::store;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

type Fields = BTreeMap<String, String>;

/// Keeps every span's fields.
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(String, Fields)>>>);

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Spans {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields::new();
        span.record(&mut Collect(&mut fields));
        let mut spans = self.0.lock().unwrap();
        spans.push((span.metadata().name().to_owned(), fields));
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.0.lock().unwrap();
        let index = usize::try_from(span.into_u64()).unwrap() - 1;
        values.record(&mut Collect(&mut spans[index].1));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn every_command_has_a_span_with_database_attributes_and_no_data() {
    let s = store("tel_spans").await;
    let spans = Spans::default();
    let _guard = tracing::dispatcher::set_default(&tracing::Dispatch::new(spans.clone()));

    s.set("secret-key", "secret-value").await.unwrap();
    s.get("secret-key").await.unwrap();
    s.get("").await.unwrap_err();
    let mut tx = s.begin().await.unwrap();
    tx.increment("n", 1).await.unwrap();
    tx.commit().await.unwrap();

    let spans = spans.0.lock().unwrap().clone();
    let ops: Vec<&str> = spans
        .iter()
        .map(|(_, f)| f.get("db.operation.name").map_or("", String::as_str))
        .collect();
    assert_eq!(ops, ["set", "get", "get", "BEGIN", "increment", "COMMIT"]);
    let collection = pgkv_suite::table_of(&s).replace('"', "");
    for (name, fields) in &spans {
        assert_eq!(name, "pgkv.command");
        assert_eq!(fields["db.system.name"], "postgresql");
        assert_eq!(fields["db.collection.name"], collection);
        assert_eq!(fields["otel.kind"], "client");
        for value in fields.values() {
            assert!(
                !value.contains("secret"),
                "a key or value leaked into a span: {fields:?}"
            );
        }
    }
    assert_eq!(spans[2].1["error.type"], "empty_key");
    assert!(!spans[1].1.contains_key("error.type"));
}
