//! One place that sets up logging and tracing: a `tracing` subscriber writing text or
//! JSON lines, an OpenTelemetry layer that gives every span a W3C trace and span id
//! (exported over OTLP/gRPC only when an endpoint is configured), the W3C trace-context
//! helpers every client and server use to carry a trace across hops, and the fields a
//! request's span learns while it is served (who calls, which request).

use std::sync::{Arc, OnceLock};

use json_subscriber::JsonLayer;
use opentelemetry::{
    Context, global,
    propagation::{Extractor, Injector},
    trace::{TraceContextExt as _, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, error::OTelSdkError, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing::{Dispatch, Subscriber, dispatcher::WeakDispatch};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer,
    fmt::{MakeWriter, time::SystemTime},
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::{
    Principal,
    settings::{LogFormat, LogSettings, TelemetrySettings},
};

/// Keeps the trace exporter alive; dropping it flushes the spans still buffered.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
    exporting: bool,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("exporting", &self.exporting)
            .finish()
    }
}

impl TelemetryGuard {
    /// Exports every finished span still buffered, and waits for the collector's answer.
    /// It blocks the calling thread: from async code, call it through
    /// `tokio::task::spawn_blocking` on a multi-threaded runtime (the export itself runs
    /// on the runtime).
    pub fn flush(&self) -> Result<(), TelemetryError> {
        Ok(self.provider.force_flush()?)
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("trace export did not shut down cleanly: {error}");
        }
    }
}

/// Why telemetry could not start, or spans could not be flushed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built from the endpoint.
    #[error("otlp exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
    /// A global subscriber was already installed.
    #[error("tracing subscriber: {0}")]
    Subscriber(#[from] tracing_subscriber::util::TryInitError),
    /// Buffered spans could not be exported.
    #[error("trace export: {0}")]
    Export(#[from] OTelSdkError),
}

/// Installs the global subscriber, writing logs to standard output, and the W3C
/// propagator. Call once per process, inside a Tokio runtime.
pub fn init(
    service_name: &str,
    log: &LogSettings,
    telemetry: &TelemetrySettings,
) -> Result<TelemetryGuard, TelemetryError> {
    init_with_writer(service_name, log, telemetry, std::io::stdout)
}

/// As [`init`], with the log lines written to `writer` (a test reads them back).
///
/// Every span gets a trace and a span id, also when nothing is exported, so that log
/// lines of one request can be joined across servers by `trace_id` even without a
/// collector. Spans are exported in batches, every 5 s or
/// 512 spans (`OTEL_BSP_*` environment variables change that), under the resource
/// `service.name` = `service_name`; servers sharing one process (`duban up`) tell their
/// spans apart by the request span's `duban.server` attribute.
pub fn init_with_writer<W>(
    service_name: &str,
    log: &LogSettings,
    telemetry: &TelemetrySettings,
    writer: W,
) -> Result<TelemetryGuard, TelemetryError>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    global::set_text_map_propagator(TraceContextPropagator::new());
    let (subscriber, guard) = subscriber(service_name, log, telemetry, writer)?;
    subscriber.try_init()?;
    if guard.exporting {
        global::set_tracer_provider(guard.provider.clone());
    }
    Ok(guard)
}

/// The subscriber [`init_with_writer`] installs, and the guard of its tracer provider.
fn subscriber<W>(
    service_name: &str,
    log: &LogSettings,
    telemetry: &TelemetrySettings,
    writer: W,
) -> Result<(impl Subscriber + Send + Sync + 'static, TelemetryGuard), TelemetryError>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.filter));
    let exporting = !telemetry.otlp_endpoint.is_empty();
    let resource = Resource::builder().with_service_name(service_name.to_owned()).build();
    let provider = if exporting {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(telemetry.otlp_endpoint.clone())
            .build()?;
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build()
    } else {
        // No processor: spans get ids and end in the void. They are still sampled (the
        // default sampler), so the `traceparent` sent on says "sampled" and a server
        // further down that does export keeps its part of the trace.
        SdkTracerProvider::builder().with_resource(resource).build()
    };
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("duban"));

    let dispatch = Arc::new(OnceLock::new());
    let logs = match log.format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_target(true)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => json_lines(writer, dispatch.clone()).boxed(),
    }
    // sea-orm's statement spans are for traces: the log layers would format their fields
    // (the SQL, its parameters) on every statement, only for the rare line logged inside
    // one, which was about 8% of SubmitReport's CPU (BENCHMARKS.md, the profiles).
    .with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
        !(metadata.is_span() && metadata.target().starts_with("sea_orm"))
    }));
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(otel)
        .with(logs)
        .with(RememberDispatch(dispatch));
    Ok((subscriber, TelemetryGuard { provider, exporting }))
}

/// One JSON object per event: `timestamp`, `level`, `target`, the event's fields
/// (`message` …), the fields of every span it happens in (the request span's
/// `duban.server`, `rpc.method`, `principal`, `department`, `request_id`; the innermost
/// span wins a name they share), and the `trace_id` and `span_id` of its span, so that a
/// line leads to its trace.
fn json_lines<S, W>(writer: W, dispatch: Arc<OnceLock<WeakDispatch>>) -> JsonLayer<S, W>
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
    W: for<'writer> MakeWriter<'writer> + 'static,
{
    let mut layer = JsonLayer::new(writer);
    layer
        .with_timer("timestamp", SystemTime)
        .with_level("level")
        .with_target("target")
        .with_flattened_event()
        .with_top_level_flattened_span_list();
    layer.add_multiple_dynamic_fields(move |event, context, fields| {
        let Some(span) = context.event_span(event) else {
            return;
        };
        let Some(dispatch) = dispatch.get().and_then(WeakDispatch::upgrade) else {
            return;
        };
        let Some(otel) = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch) else {
            return;
        };
        let otel_span = otel.span();
        let ids = otel_span.span_context();
        if ids.is_valid() {
            // Only a value that cannot serialize fails, and a string always can.
            let _ = fields.write_field("trace_id", ids.trace_id().to_string());
            let _ = fields.write_field("span_id", ids.span_id().to_string());
        }
    });
    layer
}

/// Keeps the subscriber's dispatcher (weakly, so that it is not kept alive by its own
/// layer), which the JSON lines need to ask the OpenTelemetry layer for a span's ids.
struct RememberDispatch(Arc<OnceLock<WeakDispatch>>);

impl<S: Subscriber> Layer<S> for RememberDispatch {
    fn on_register_dispatch(&self, dispatch: &Dispatch) {
        let _ = self.0.set(dispatch.downgrade());
    }
}

/// Records who is calling on the span of the request being served: `principal` (its
/// label) and, for a department, `department` (its code). Nothing outside a request.
pub fn record_caller(principal: &Principal) {
    crate::layer::with_request_span(|span| {
        span.record("principal", principal.label().as_str());
        if let Principal::Department(code) = principal {
            span.record("department", code.as_str());
        }
    });
}

/// Records the request's `request_id` (its idempotency key) on the span of the request
/// being served. Nothing for an empty id or outside a request.
pub fn record_request_id(request_id: &str) {
    if request_id.is_empty() {
        return;
    }
    crate::layer::with_request_span(|span| {
        span.record("request_id", request_id);
    });
}

/// Writes the current span's trace context into outgoing gRPC metadata as `traceparent`.
pub fn inject_current_context(metadata: &mut tonic::metadata::MetadataMap) {
    let context = tracing::Span::current().context();
    global::get_text_map_propagator(|propagator| propagator.inject_context(&context, &mut MetadataInjector(metadata)));
}

/// Reads a trace context from incoming HTTP/2 headers.
pub fn extract_context(headers: &http::HeaderMap) -> Context {
    global::get_text_map_propagator(|propagator| propagator.extract(&HeaderExtractor(headers)))
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            tonic::metadata::MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

    use super::*;

    /// Log lines, in memory.
    #[derive(Clone, Default)]
    struct Lines(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_the_callers_trace_and_the_span_fields_even_without_export() {
        let lines = Lines::default();
        let writer = lines.clone();
        let json = LogSettings {
            format: LogFormat::Json,
            filter: "info".into(),
        };
        let (subscriber, _guard) =
            subscriber("test", &json, &TelemetrySettings::default(), move || writer.clone()).unwrap();
        let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let caller = SpanContext::new(
            trace_id,
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("grpc.request", department = tracing::field::Empty);
            span.set_parent(Context::new().with_remote_span_context(caller))
                .unwrap();
            span.record("department", "tax-bureau");
            span.in_scope(|| tracing::info!(revision = 3, "inside"));
            tracing::info!("outside");
        });

        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<serde_json::Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        let inside = &lines[0];
        assert_eq!(inside["message"], "inside");
        assert_eq!(inside["revision"], 3);
        assert_eq!(inside["department"], "tax-bureau", "span fields at the top level");
        assert_eq!(inside["trace_id"], trace_id.to_string(), "the caller's trace goes on");
        let span_id = inside["span_id"].as_str().unwrap();
        assert_eq!(span_id.len(), 16);
        assert_ne!(
            span_id, "00f067aa0ba902b7",
            "the line names its own span, not the caller's"
        );
        assert_eq!(inside["level"], "INFO");
        let outside = &lines[1];
        assert!(outside.get("trace_id").is_none(), "{outside}");
        assert!(outside.get("department").is_none(), "{outside}");
    }

    #[test]
    fn trace_context_survives_a_hop_through_grpc_metadata() {
        global::set_text_map_propagator(TraceContextPropagator::new());
        let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        let parent = SpanContext::new(
            trace_id,
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let context = Context::new().with_remote_span_context(parent);

        // Client side: what the interceptor writes.
        let mut metadata = tonic::metadata::MetadataMap::new();
        global::get_text_map_propagator(|p| p.inject_context(&context, &mut MetadataInjector(&mut metadata)));
        let traceparent = metadata
            .get("traceparent")
            .expect("traceparent is injected")
            .to_str()
            .unwrap();
        assert_eq!(traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");

        // Server side: what the request layer reads from the HTTP/2 headers.
        let headers = metadata.into_headers();
        let extracted = extract_context(&headers);
        assert_eq!(extracted.span().span_context().trace_id(), trace_id);
        assert!(extracted.span().span_context().is_remote());
    }
}
