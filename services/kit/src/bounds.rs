//! The bounds of every request, read from the protos and enforced in one place: the
//! [`BoundsLayer`] in front of every server's gRPC routes.
//!
//! `duban/common/v1/bounds.proto` declares the options: `max_length` (characters of a
//! string, bytes of a bytes field; of each element when repeated), `max_items` (elements
//! of a repeated or map field) and, on an RPC, `max_stream_items` (messages of a client
//! stream). A field or method without an option has the defaults below, which the proto
//! documents too. The layer knows each RPC's input type from the embedded descriptor set,
//! so a new field or RPC is bounded without any code: the gateway, which forwards the
//! services' RPCs by path, checks the same bounds before it forwards.
//!
//! The layer reads the request body frame by frame (a gRPC frame is a 5-byte prefix and
//! one message) and hands the handler a message only once it is checked. A message past
//! a bound ends the body with an INVALID_ARGUMENT status (FIELD_INVALID, a BadRequest
//! naming every field past its bound), which tonic answers before a unary handler runs
//! and a streaming handler reads as the stream's error. The message after a stream's
//! last allowed one ends it the same way, so the server stops reading at the limit.
//!
//! An RPC whose response has one result per stream message declares
//! `stream_item_results`: a message of it past a field bound is passed on, and its
//! violations wait in the call's [`ItemViolations`] for the handler, which answers that
//! message alone (the other messages are read and answered as usual).

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame};
use prost_reflect::{DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, MapKey, Value};
use tonic::Status;

use crate::status::{FieldViolation, SuiteReason};

/// Characters (Unicode code points) of a string, or bytes of a bytes field, without a
/// `max_length` option: even of 4-byte characters, under PostgreSQL's 2,704-byte limit
/// for an indexed key.
pub const DEFAULT_MAX_LENGTH: usize = 512;
/// Elements of a repeated or map field without a `max_items` option.
pub const DEFAULT_MAX_ITEMS: usize = 1000;
/// Messages of a client stream whose RPC has no `max_stream_items` option.
pub const DEFAULT_MAX_STREAM_ITEMS: usize = 1000;
/// The most violations one answer lists: enough to fix a request, small to send.
const MAX_VIOLATIONS: usize = 20;
/// The gRPC frame prefix: a compression flag and a 4-byte big-endian length.
const FRAME_PREFIX: usize = 5;

/// The bounds of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FieldBounds {
    max_length: usize,
    max_items: usize,
}

/// What the layer needs of one RPC.
#[derive(Debug, Clone)]
struct Method {
    /// `duban.reporting.v1.ReportingService/SubmitReports`, for messages.
    name: String,
    input: prost_reflect::MessageDescriptor,
    /// The most messages of a client stream; `None` for a single request message.
    max_stream_items: Option<usize>,
    /// The handler answers a message past a field bound in its own result
    /// (`stream_item_results`), reading the violations from [`ItemViolations`].
    item_results: bool,
}

/// Every field's and every RPC's bounds, read once from a descriptor set.
#[derive(Debug)]
pub struct Catalogue {
    fields: HashMap<String, FieldBounds>,
    /// By HTTP path, `/duban.reporting.v1.ReportingService/SubmitReports`.
    methods: HashMap<String, Arc<Method>>,
}

impl Catalogue {
    /// The bounds of every Duban RPC, from the descriptor set embedded in duban-proto.
    pub fn duban() -> Result<Self, prost_reflect::DescriptorError> {
        Self::decode(duban_proto::FILE_DESCRIPTOR_SET)
    }

    /// The bounds declared in an encoded `FileDescriptorSet` that includes
    /// `duban/common/v1/bounds.proto`.
    pub fn decode(descriptor_set: &[u8]) -> Result<Self, prost_reflect::DescriptorError> {
        let pool = DescriptorPool::decode(descriptor_set)?;
        let extension = |name: &str| pool.get_extension_by_name(&format!("duban.common.v1.{name}"));
        let (max_length, max_items, max_stream_items, stream_item_results) = (
            extension("max_length"),
            extension("max_items"),
            extension("max_stream_items"),
            extension("stream_item_results"),
        );
        let fields = pool
            .all_messages()
            .flat_map(|message| message.fields().collect::<Vec<_>>())
            .map(|field| {
                let options = field.options();
                let bounds = FieldBounds {
                    max_length: option(&options, max_length.as_ref()).unwrap_or(DEFAULT_MAX_LENGTH),
                    max_items: option(&options, max_items.as_ref()).unwrap_or(DEFAULT_MAX_ITEMS),
                };
                (field.full_name().to_owned(), bounds)
            })
            .collect();
        let methods = pool
            .services()
            .flat_map(|service| service.methods().collect::<Vec<_>>())
            .map(|method| {
                let name = format!("{}/{}", method.parent_service().full_name(), method.name());
                let max_stream_items = method
                    .is_client_streaming()
                    .then(|| option(&method.options(), max_stream_items.as_ref()).unwrap_or(DEFAULT_MAX_STREAM_ITEMS));
                let item_results = method.is_client_streaming()
                    && stream_item_results.as_ref().is_some_and(|extension| {
                        let options = method.options();
                        options.has_extension(extension) && options.get_extension(extension).as_bool() == Some(true)
                    });
                let input = method.input();
                (
                    format!("/{name}"),
                    Arc::new(Method {
                        name,
                        input,
                        max_stream_items,
                        item_results,
                    }),
                )
            })
            .collect();
        Ok(Self { fields, methods })
    }

    /// Every field of `message` past its bound (nested messages, list elements and map
    /// values too), at most [`MAX_VIOLATIONS`], each named by its path.
    pub fn violations(&self, message: &DynamicMessage) -> Vec<FieldViolation> {
        let mut found = Vec::new();
        self.walk(message, "", &mut found);
        found
    }

    fn bounds(&self, field: &FieldDescriptor) -> FieldBounds {
        self.fields.get(field.full_name()).copied().unwrap_or(FieldBounds {
            max_length: DEFAULT_MAX_LENGTH,
            max_items: DEFAULT_MAX_ITEMS,
        })
    }

    fn walk(&self, message: &DynamicMessage, prefix: &str, found: &mut Vec<FieldViolation>) {
        for (field, value) in message.fields() {
            let path = if prefix.is_empty() {
                field.name().to_owned()
            } else {
                format!("{prefix}.{}", field.name())
            };
            let bounds = self.bounds(&field);
            match value {
                Value::List(elements) => {
                    count(&path, elements.len(), bounds.max_items, found);
                    for (index, element) in elements.iter().enumerate().take(bounds.max_items) {
                        self.value(element, &format!("{path}[{index}]"), bounds, found);
                    }
                }
                Value::Map(entries) => {
                    count(&path, entries.len(), bounds.max_items, found);
                    for (key, element) in entries.iter().take(bounds.max_items) {
                        let path = map_path(&path, key);
                        if let MapKey::String(key) = key {
                            length(&path, key.chars().count(), bounds.max_length, "characters", found);
                            no_nul(&path, key, found);
                        }
                        self.value(element, &path, bounds, found);
                    }
                }
                single => self.value(single, &path, bounds, found),
            }
            if found.len() >= MAX_VIOLATIONS {
                found.truncate(MAX_VIOLATIONS);
                return;
            }
        }
    }

    fn value(&self, value: &Value, path: &str, bounds: FieldBounds, found: &mut Vec<FieldViolation>) {
        match value {
            Value::String(text) => {
                length(path, text.chars().count(), bounds.max_length, "characters", found);
                no_nul(path, text, found);
            }
            Value::Bytes(bytes) => length(path, bytes.len(), bounds.max_length, "bytes", found),
            Value::Message(message) => self.walk(message, path, found),
            _ => {}
        }
    }
}

/// The value of an integer option, if set.
fn option(options: &DynamicMessage, extension: Option<&ExtensionDescriptor>) -> Option<usize> {
    let extension = extension?;
    if !options.has_extension(extension) {
        return None;
    }
    options
        .get_extension(extension)
        .as_u32()
        .and_then(|limit| usize::try_from(limit).ok())
}

fn length(path: &str, length: usize, max: usize, unit: &str, found: &mut Vec<FieldViolation>) {
    if length > max {
        found.push(FieldViolation::new(
            path,
            format!("must be at most {max} {unit} long, is {length}"),
        ));
    }
}

/// U+0000 in text: valid protobuf, but PostgreSQL's text columns refuse it, so it would
/// fail the write with a database error (and SQLite would keep what PostgreSQL cannot).
/// Refused on every string for one behaviour on both.
fn no_nul(path: &str, text: &str, found: &mut Vec<FieldViolation>) {
    if text.contains('\0') {
        found.push(FieldViolation::new(path, "must not contain the NUL character (U+0000)"));
    }
}

fn count(path: &str, count: usize, max: usize, found: &mut Vec<FieldViolation>) {
    if count > max {
        found.push(FieldViolation::new(
            path,
            format!("must hold at most {max} elements, holds {count}"),
        ));
    }
}

/// AIP-161: `labels.env`, or ``labels.`a b` `` when the key is not a plain identifier.
fn map_path(path: &str, key: &MapKey) -> String {
    let key = match key {
        MapKey::String(key) => key.clone(),
        MapKey::Bool(key) => key.to_string(),
        MapKey::I32(key) => key.to_string(),
        MapKey::I64(key) => key.to_string(),
        MapKey::U32(key) => key.to_string(),
        MapKey::U64(key) => key.to_string(),
    };
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!("{path}.{key}")
    } else {
        format!("{path}.`{}`", key.replace('`', "``"))
    }
}

/// The answer to a client stream that sent more than `max` messages.
pub fn too_many_stream_messages(method: &str, max: usize) -> Status {
    crate::status::with_reason(
        tonic::Code::InvalidArgument,
        format!("a {method} stream holds at most {max} messages; the server stopped reading after the {max}th"),
        SuiteReason::FieldInvalid,
        [("max_stream_items", max.to_string())],
    )
}

/// The field violations of the messages of one client stream whose RPC answers them per
/// message (`stream_item_results`), by 0-based message index, waiting for the handler.
/// The layer puts it in the request's extensions; the handler takes each message's
/// violations as it reads the message, so it holds at most those read ahead.
#[derive(Debug, Clone, Default)]
pub struct ItemViolations(Arc<Mutex<HashMap<usize, Vec<FieldViolation>>>>);

impl ItemViolations {
    /// The call's violations, if the layer checks its messages (absent when the
    /// handler is served without the layer, as in a unit test).
    pub fn of(extensions: &http::Extensions) -> Option<Self> {
        extensions.get::<Self>().cloned()
    }

    /// The violations of message `index`, once: empty when it is within its bounds.
    pub fn take(&self, index: usize) -> Vec<FieldViolation> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&index)
            .unwrap_or_default()
    }

    fn record(&self, index: usize, violations: Vec<FieldViolation>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(index, violations);
    }
}

/// Builds [`BoundsService`]s over one [`Catalogue`].
#[derive(Debug, Clone)]
pub struct BoundsLayer {
    catalogue: Arc<Catalogue>,
    max_message_bytes: usize,
}

impl BoundsLayer {
    /// Checks requests against `catalogue`. A message longer than `max_message_bytes` is
    /// passed on unread, for tonic to refuse with RESOURCE_EXHAUSTED, so that the layer
    /// never buffers more than one allowed message.
    pub fn new(catalogue: Arc<Catalogue>, max_message_bytes: usize) -> Self {
        Self {
            catalogue,
            max_message_bytes,
        }
    }
}

impl<S> tower::Layer<S> for BoundsLayer {
    type Service = BoundsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BoundsService {
            inner,
            layer: self.clone(),
        }
    }
}

/// See [`BoundsLayer`]: hands the inner service a body of checked messages for every
/// RPC the catalogue knows, and every other request's body as it is.
#[derive(Debug, Clone)]
pub struct BoundsService<S> {
    inner: S,
    layer: BoundsLayer,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, B> tower::Service<http::Request<B>> for BoundsService<S>
where
    S: tower::Service<http::Request<axum::body::Body>>,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = self.layer.catalogue.methods.get(request.uri().path()).cloned();
        let (mut parts, body) = request.into_parts();
        let body = match method {
            Some(method) => axum::body::Body::new(CheckedBody {
                inner: body,
                catalogue: self.layer.catalogue.clone(),
                item_violations: method.item_results.then(|| {
                    let violations = ItemViolations::default();
                    parts.extensions.insert(violations.clone());
                    violations
                }),
                method,
                max_message_bytes: self.layer.max_message_bytes,
                buffer: BytesMut::new(),
                messages: 0,
                state: State::Checking,
                inner_ended: false,
            }),
            None => axum::body::Body::new(body),
        };
        self.inner.call(http::Request::from_parts(parts, body))
    }
}

/// Where a [`CheckedBody`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading and checking whole messages.
    Checking,
    /// Passing every byte on unread: a message too large (tonic refuses it) or
    /// compressed (the servers accept no compression, so tonic refuses it too).
    PassingOn,
    /// A bound was broken and said so; nothing more is read.
    Ended,
}

/// A request body that yields each gRPC message only once it is within its bounds.
struct CheckedBody<B> {
    inner: B,
    catalogue: Arc<Catalogue>,
    method: Arc<Method>,
    /// Where a message past a field bound is recorded instead of ending the body
    /// (`stream_item_results`).
    item_violations: Option<ItemViolations>,
    max_message_bytes: usize,
    /// Bytes read but not yet passed on: at most one incomplete message.
    buffer: BytesMut,
    /// Messages seen so far.
    messages: usize,
    state: State,
    /// The inner body has ended: it is not polled again.
    inner_ended: bool,
}

impl<B> CheckedBody<B> {
    /// The next checked whole message at the head of the buffer, if any (with every
    /// byte after it once passing on), or the status that ends the body. One message at
    /// a time, so that every message before one past a bound is still passed on.
    fn take_checked(&mut self) -> Result<Option<Bytes>, Status> {
        if self.state == State::Checking
            && let Some(&[flag, a, b, c, d]) = self.buffer.get(..FRAME_PREFIX)
        {
            let compressed = flag != 0;
            let length = usize::try_from(u32::from_be_bytes([a, b, c, d])).unwrap_or(usize::MAX);
            if compressed || length > self.max_message_bytes {
                self.state = State::PassingOn;
            } else if let Some(message) = self.buffer.get(FRAME_PREFIX..FRAME_PREFIX + length) {
                check(
                    &self.catalogue,
                    &self.method,
                    self.item_violations.as_ref(),
                    self.messages,
                    message,
                )?;
                self.messages += 1;
                return Ok(Some(self.buffer.split_to(FRAME_PREFIX + length).freeze()));
            }
        }
        if self.state == State::PassingOn && !self.buffer.is_empty() {
            return Ok(Some(self.buffer.split().freeze()));
        }
        Ok(None)
    }
}

/// Checks message `index` (0-based) of a call to `method`: its place in the stream,
/// then its fields (recorded in `item_violations`, when given, rather than refused).
fn check(
    catalogue: &Catalogue,
    method: &Method,
    item_violations: Option<&ItemViolations>,
    index: usize,
    encoded: &[u8],
) -> Result<(), Status> {
    if let Some(max) = method.max_stream_items
        && index >= max
    {
        return Err(too_many_stream_messages(&method.name, max));
    }
    // A message that does not decode is passed on: tonic's own decoding answers it.
    let Ok(message) = DynamicMessage::decode(method.input.clone(), encoded) else {
        return Ok(());
    };
    let violations = catalogue.violations(&message);
    if violations.is_empty() {
        return Ok(());
    }
    if let Some(item_violations) = item_violations {
        item_violations.record(index, violations);
        return Ok(());
    }
    let status = crate::error::invalid_fields(&violations);
    if method.max_stream_items.is_none() {
        return Err(status);
    }
    let message = format!("message {index} of the stream: {}", status.message());
    Err(Status::with_details(
        status.code(),
        message,
        Bytes::copy_from_slice(status.details()),
    ))
}

impl<B> Body for CheckedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.state == State::Ended {
                return Poll::Ready(None);
            }
            match this.take_checked() {
                Ok(Some(messages)) => return Poll::Ready(Some(Ok(Frame::data(messages)))),
                Ok(None) => {}
                Err(status) => {
                    this.state = State::Ended;
                    this.buffer.clear();
                    return Poll::Ready(Some(Err(Box::new(status))));
                }
            }
            if this.inner_ended {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => this.buffer.extend_from_slice(&data),
                    // gRPC clients send no request trailers; any are passed on as they come.
                    Err(trailers) => return Poll::Ready(Some(Ok(trailers))),
                },
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error.into()))),
                Poll::Ready(None) => {
                    this.inner_ended = true;
                    // A body that ends inside a message: pass the rest on for tonic to
                    // refuse.
                    if !this.buffer.is_empty() {
                        this.state = State::PassingOn;
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Ended || (self.buffer.is_empty() && (self.inner_ended || self.inner.is_end_stream()))
    }
}

#[cfg(test)]
mod tests {
    use duban_proto::reporting::v1 as pb;
    use http_body_util::BodyExt;
    use prost::Message;

    use super::*;

    const SUBMIT_REPORT: &str = "/duban.reporting.v1.ReportingService/SubmitReport";
    const SUBMIT_REPORTS: &str = "/duban.reporting.v1.ReportingService/SubmitReports";

    fn catalogue() -> Arc<Catalogue> {
        Arc::new(Catalogue::duban().unwrap())
    }

    fn dynamic(catalogue: &Catalogue, path: &str, message: &impl Message) -> DynamicMessage {
        let input = catalogue.methods[path].input.clone();
        DynamicMessage::decode(input, message.encode_to_vec().as_slice()).unwrap()
    }

    fn fields(violations: &[FieldViolation]) -> Vec<&str> {
        violations.iter().map(|v| v.field.as_str()).collect()
    }

    fn metric(code: &str) -> pb::MetricValue {
        pb::MetricValue {
            target_code: code.into(),
            ..Default::default()
        }
    }

    #[test]
    fn reads_the_bounds_the_protos_declare_and_the_defaults() {
        let catalogue = catalogue();
        let field = |name: &str| catalogue.fields[name];
        assert_eq!(field("duban.reporting.v1.Report.narrative").max_length, 4000);
        assert_eq!(field("duban.reporting.v1.Report.metric_values").max_items, 50);
        assert_eq!(
            field("duban.reporting.v1.SubmitReportRequest.request_id").max_length,
            128
        );
        assert_eq!(
            field("duban.reporting.v1.Report.measure_number").max_length,
            DEFAULT_MAX_LENGTH
        );
        assert_eq!(field("duban.departments.v1.Group.members").max_items, DEFAULT_MAX_ITEMS);
        assert_eq!(catalogue.methods[SUBMIT_REPORTS].max_stream_items, Some(1000));
        assert_eq!(catalogue.methods[SUBMIT_REPORT].max_stream_items, None);
    }

    #[test]
    fn names_every_field_past_its_bound_by_its_path() {
        let catalogue = catalogue();
        let mut metric_values: Vec<_> = (0..51).map(|n| metric(&format!("t-{n}"))).collect();
        metric_values[3].target_code = "x".repeat(DEFAULT_MAX_LENGTH + 1);
        let request = pb::SubmitReportRequest {
            parent: "plans/p".into(),
            request_id: "r".repeat(129),
            report: Some(pb::Report {
                narrative: "进".repeat(4001),
                metric_values,
                ..Default::default()
            }),
            ..Default::default()
        };
        let violations = catalogue.violations(&dynamic(&catalogue, SUBMIT_REPORT, &request));
        let mut named = fields(&violations);
        named.sort_unstable();
        assert_eq!(
            named,
            [
                "report.metric_values",
                "report.metric_values[3].target_code",
                "report.narrative",
                "request_id"
            ]
        );
        let narrative = violations.iter().find(|v| v.field == "report.narrative").unwrap();
        assert_eq!(narrative.description, "must be at most 4000 characters long, is 4001");
    }

    #[test]
    fn counts_characters_not_bytes_and_accepts_what_is_within() {
        let catalogue = catalogue();
        let request = pb::SubmitReportRequest {
            // 4000 three-byte characters: 12,000 bytes, but within 4000 characters.
            report: Some(pb::Report {
                narrative: "进".repeat(4000),
                metric_values: (0..50).map(|n| metric(&format!("t-{n}"))).collect(),
                ..Default::default()
            }),
            request_id: "r".repeat(128),
            ..Default::default()
        };
        assert_eq!(catalogue.violations(&dynamic(&catalogue, SUBMIT_REPORT, &request)), []);
    }

    #[test]
    fn refuses_the_nul_character_anywhere_in_text() {
        let catalogue = catalogue();
        let request = pb::SubmitReportRequest {
            parent: "plans/p".into(),
            report: Some(pb::Report {
                narrative: "本月\0进展".into(),
                metric_values: vec![metric("t\0")],
                ..Default::default()
            }),
            ..Default::default()
        };
        let violations = catalogue.violations(&dynamic(&catalogue, SUBMIT_REPORT, &request));
        assert_eq!(
            fields(&violations),
            ["report.narrative", "report.metric_values[0].target_code"]
        );
        assert!(violations[0].description.contains("U+0000"));
    }

    #[test]
    fn lists_at_most_a_bounded_number_of_violations() {
        let catalogue = catalogue();
        let long = "x".repeat(DEFAULT_MAX_LENGTH + 1);
        let request = pb::GetProgressRequest {
            target_codes: vec![long; 400],
            ..Default::default()
        };
        let path = "/duban.reporting.v1.ReportingService/GetProgress";
        assert_eq!(
            catalogue.violations(&dynamic(&catalogue, path, &request)).len(),
            MAX_VIOLATIONS
        );
    }

    /// `messages` as gRPC frames, in chunks of `chunk` bytes (a frame split across reads).
    fn body(messages: &[Vec<u8>], chunk: usize) -> axum::body::Body {
        let mut bytes = Vec::new();
        for message in messages {
            bytes.push(0);
            bytes.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
            bytes.extend_from_slice(message);
        }
        let chunks: Vec<Result<Frame<Bytes>, std::convert::Infallible>> = bytes
            .chunks(chunk)
            .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
            .collect();
        axum::body::Body::new(http_body_util::StreamBody::new(futures::stream::iter(chunks)))
    }

    fn checked(path: &str, body: axum::body::Body) -> CheckedBody<axum::body::Body> {
        let catalogue = catalogue();
        let method = catalogue.methods[path].clone();
        checked_as(catalogue, method, body)
    }

    /// A body checked for `method`, with the [`ItemViolations`] the layer would give it.
    fn checked_as(
        catalogue: Arc<Catalogue>,
        method: Arc<Method>,
        body: axum::body::Body,
    ) -> CheckedBody<axum::body::Body> {
        CheckedBody {
            inner: body,
            catalogue,
            item_violations: method.item_results.then(ItemViolations::default),
            method,
            max_message_bytes: 4 << 20,
            buffer: BytesMut::new(),
            messages: 0,
            state: State::Checking,
            inner_ended: false,
        }
    }

    /// Reads the body to its end: the bytes it passed on and the error it ended with.
    async fn read(mut body: CheckedBody<axum::body::Body>) -> (Vec<u8>, Option<Status>) {
        let mut passed = Vec::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => passed.extend_from_slice(frame.data_ref().unwrap()),
                Err(error) => return (passed, Some(*error.downcast::<Status>().unwrap())),
            }
        }
        (passed, None)
    }

    fn item(request_id: &str) -> Vec<u8> {
        pb::SubmitReportsRequest {
            request_id: request_id.into(),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[tokio::test]
    async fn passes_messages_within_their_bounds_on_unchanged() {
        let items: Vec<_> = (0..1000).map(|n| item(&format!("r-{n}"))).collect();
        let expected: Vec<u8> = body(&items, usize::MAX).collect().await.unwrap().to_bytes().to_vec();
        let (passed, error) = read(checked(SUBMIT_REPORTS, body(&items, 7))).await;
        assert!(error.is_none(), "{error:?}");
        assert!(passed == expected, "every message is passed on unchanged");
    }

    #[tokio::test]
    async fn cuts_a_stream_at_its_limit() {
        let items: Vec<_> = (0..1500).map(|n| item(&format!("r-{n}"))).collect();
        let within: Vec<u8> = body(&items[..1000], usize::MAX)
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        let (passed, error) = read(checked(SUBMIT_REPORTS, body(&items, 1000))).await;
        let error = error.expect("the 1001st message ends the body");
        assert_eq!(error.code(), tonic::Code::InvalidArgument);
        assert!(passed == within, "exactly the first 1000 messages are passed on");
        assert_eq!(
            crate::status::reason(&error).as_deref(),
            Some("FIELD_INVALID"),
            "{error:?}"
        );
    }

    #[test]
    fn reads_which_streams_answer_each_message_in_its_own_result() {
        let catalogue = catalogue();
        assert!(catalogue.methods[SUBMIT_REPORTS].item_results);
        assert!(!catalogue.methods[SUBMIT_REPORT].item_results, "not a stream");
    }

    #[tokio::test]
    async fn leaves_a_message_past_a_bound_to_its_own_result_when_the_rpc_answers_per_message() {
        let items = vec![item("a"), item(&"r".repeat(129)), item("c"), item(&"\0".repeat(2))];
        let expected: Vec<u8> = body(&items, usize::MAX).collect().await.unwrap().to_bytes().to_vec();
        let body = checked(SUBMIT_REPORTS, body(&items, 3));
        let violations = body.item_violations.clone().expect("SubmitReports answers per item");
        let (passed, error) = read(body).await;
        assert!(error.is_none(), "the stream goes on: {error:?}");
        assert!(passed == expected, "every message is passed on");
        let fields = |index| violations.take(index).into_iter().map(|v| v.field).collect::<Vec<_>>();
        assert_eq!(fields(0), Vec::<String>::new());
        assert_eq!(fields(1), ["request_id"]);
        assert_eq!(fields(1), Vec::<String>::new(), "taken once");
        assert_eq!(fields(2), Vec::<String>::new());
        assert_eq!(fields(3), ["request_id"]);
    }

    #[tokio::test]
    async fn ends_a_stream_at_a_message_past_a_bound_naming_its_field_and_index() {
        let items = vec![item("a"), item(&"r".repeat(129)), item("c")];
        // A client stream that does not answer per message (none does today but the
        // layer keeps the rule for the next one).
        let catalogue = catalogue();
        let method = Arc::new(Method {
            item_results: false,
            ..(*catalogue.methods[SUBMIT_REPORTS]).clone()
        });
        let (passed, error) = read(checked_as(catalogue, method, body(&items, 3))).await;
        let error = error.unwrap();
        assert_eq!(error.code(), tonic::Code::InvalidArgument);
        assert!(
            error.message().starts_with("message 1 of the stream"),
            "{}",
            error.message()
        );
        assert_eq!(
            crate::status::field_violations(&error)
                .iter()
                .map(|v| v.field.as_str())
                .collect::<Vec<_>>(),
            ["request_id"]
        );
        assert_eq!(passed.len(), 5 + items[0].len(), "only the first message is passed on");
    }
}
