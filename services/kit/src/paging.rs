//! AIP-158 pagination: `page_size` normalisation and opaque page tokens that remember
//! the position and the filter they were issued for, so a token cannot silently be
//! replayed against a different query; and, for clients, [`read_all_pages`].

use std::{collections::HashSet, future::Future};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::status::FieldViolation;

/// Page size used when the caller sends 0.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Largest page served; larger requests are clamped (AIP-158).
pub const MAX_PAGE_SIZE: u64 = 500;
/// Largest position a page token may hold: far beyond any listing (2^40 rows), and far
/// below where an offset plus a page size could overflow or a database refuse it. The
/// token format is public (its fingerprint only binds it to a filter), so a forged
/// token must be refused here, not trusted.
pub const MAX_OFFSET: u64 = 1 << 40;

/// Where a page starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to skip.
    pub offset: u64,
    /// Rows to return.
    pub size: u64,
}

impl Page {
    /// Validates `page_size` and `page_token` for a query whose filter is described by
    /// `filter` (any stable string built from the request's filter fields).
    pub fn from_request(page_size: i32, page_token: &str, filter: &str) -> Result<Page, FieldViolation> {
        let size = match page_size {
            size if size < 0 => return Err(FieldViolation::new("page_size", "must not be negative")),
            0 => DEFAULT_PAGE_SIZE,
            size => (size as u64).min(MAX_PAGE_SIZE),
        };
        let offset = if page_token.is_empty() {
            0
        } else {
            decode(page_token, filter)?
        };
        Ok(Page { offset, size })
    }

    /// This page of `items`: what a listing held in memory serves.
    pub fn window<I: IntoIterator>(&self, items: I) -> std::iter::Take<std::iter::Skip<I::IntoIter>> {
        let offset = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let size = usize::try_from(self.size).unwrap_or(usize::MAX);
        items.into_iter().skip(offset).take(size)
    }

    /// The token for the page after this one, or empty if `total` rows are all served.
    pub fn next_token(&self, total: u64, filter: &str) -> String {
        let next = self.offset.saturating_add(self.size);
        if next >= total {
            String::new()
        } else {
            URL_SAFE_NO_PAD.encode(format!("{next}:{:016x}", fingerprint(filter)))
        }
    }
}

fn decode(token: &str, filter: &str) -> Result<u64, FieldViolation> {
    let invalid = || FieldViolation::new("page_token", "is not a token this listing issued");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    let (offset, print) = raw.split_once(':').ok_or_else(invalid)?;
    if print != format!("{:016x}", fingerprint(filter)) {
        return Err(FieldViolation::new("page_token", "was issued for a different filter"));
    }
    match offset.parse::<u64>() {
        Ok(offset) if offset <= MAX_OFFSET => Ok(offset),
        _ => Err(invalid()),
    }
}

/// FNV-1a: stable across processes and versions, unlike `DefaultHasher`.
fn fingerprint(filter: &str) -> u64 {
    filter.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A listing answered a `next_page_token` it had answered before: following it would
/// loop for ever, so the reading stops.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the listing repeated page token {token:?} after {pages} pages")]
pub struct RepeatedPageToken {
    /// The token answered twice.
    pub token: String,
    /// Pages read before it came back.
    pub pages: usize,
}

impl From<RepeatedPageToken> for tonic::Status {
    /// A server bug, not a transient failure: INTERNAL, which clients do not retry.
    fn from(error: RepeatedPageToken) -> Self {
        tonic::Status::internal(error.to_string())
    }
}

/// The page size clients ask for when they read a whole listing: the largest a server
/// serves, so a listing takes as few calls as it can.
pub const READ_ALL_PAGE_SIZE: i32 = MAX_PAGE_SIZE as i32;

/// Reads every page of a List call. `read_page` issues one request with the given
/// `page_token` (empty for the first page) and returns the page's items with its
/// `next_page_token`; reading stops at an empty token. A token answered twice ends the
/// reading with [`RepeatedPageToken`] instead of looping.
pub async fn read_all_pages<T, E, F, Fut>(mut read_page: F) -> Result<Vec<T>, E>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String), E>>,
    E: From<RepeatedPageToken>,
{
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    let mut token = String::new();
    for pages in 1.. {
        let (page, next) = read_page(token).await?;
        items.extend(page);
        if next.is_empty() {
            break;
        }
        if !seen.insert(next.clone()) {
            return Err(RepeatedPageToken { token: next, pages }.into());
        }
        token = next;
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `rows` in pages of `size` with this module's own tokens.
    async fn serve(rows: &[u32], size: i32, token: String) -> Result<(Vec<u32>, String), tonic::Status> {
        let page =
            Page::from_request(size, &token, "rows").map_err(|v| tonic::Status::invalid_argument(v.description))?;
        let start = (page.offset as usize).min(rows.len());
        let end = (start + page.size as usize).min(rows.len());
        Ok((rows[start..end].to_vec(), page.next_token(rows.len() as u64, "rows")))
    }

    #[test]
    fn forged_positions_beyond_any_listing_are_refused() {
        let forged = |offset: &str| URL_SAFE_NO_PAD.encode(format!("{offset}:{:016x}", fingerprint("rows")));
        for offset in [
            u64::MAX.to_string(),
            (u64::MAX - 1).to_string(),
            (MAX_OFFSET + 1).to_string(),
            "-1".into(),
        ] {
            let refused = Page::from_request(10, &forged(&offset), "rows").unwrap_err();
            assert_eq!(refused.field, "page_token", "{offset}");
        }
        let furthest = Page::from_request(500, &forged(&MAX_OFFSET.to_string()), "rows").unwrap();
        assert!(!furthest.next_token(u64::MAX, "rows").is_empty());
        assert_eq!(furthest.window([1, 2, 3]).count(), 0);
    }

    #[tokio::test]
    async fn reads_every_page_in_order() {
        let rows: Vec<u32> = (0..7).collect();
        let mut calls = 0;
        let all = read_all_pages(|token| {
            calls += 1;
            serve(&rows, 3, token)
        })
        .await
        .unwrap();
        assert_eq!(all, rows);
        assert_eq!(calls, 3);
        let none = read_all_pages(|token| serve(&[], 3, token)).await.unwrap();
        assert!(none.is_empty());
    }

    #[tokio::test]
    async fn a_repeated_token_stops_the_reading() {
        let mut calls = 0;
        let error = read_all_pages(|token| {
            calls += 1;
            // Page 1 answers "a", page 2 "b", page 3 "a" again.
            let next = if token == "a" { "b" } else { "a" };
            async move { Ok::<_, tonic::Status>((vec![token], next.to_owned())) }
        })
        .await
        .unwrap_err();
        assert_eq!(error.code(), tonic::Code::Internal);
        assert!(error.message().contains("\"a\" after 3 pages"), "{}", error.message());
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn a_failed_page_is_the_answer() {
        let error = read_all_pages(|token| async move {
            if token.is_empty() {
                Ok((vec![1], "next".to_owned()))
            } else {
                Err(tonic::Status::unavailable("down"))
            }
        })
        .await
        .unwrap_err();
        assert_eq!(error.code(), tonic::Code::Unavailable);
    }

    #[test]
    fn walks_pages_until_the_end() {
        let first = Page::from_request(2, "", "kind=bureau").unwrap();
        assert_eq!(first, Page { offset: 0, size: 2 });
        let token = first.next_token(5, "kind=bureau");
        let second = Page::from_request(2, &token, "kind=bureau").unwrap();
        assert_eq!(second.offset, 2);
        let third = Page::from_request(2, &second.next_token(5, "kind=bureau"), "kind=bureau").unwrap();
        assert_eq!(third.offset, 4);
        assert_eq!(third.next_token(5, "kind=bureau"), "");
    }

    #[test]
    fn clamps_and_defaults_sizes() {
        assert_eq!(Page::from_request(0, "", "").unwrap().size, DEFAULT_PAGE_SIZE);
        assert_eq!(Page::from_request(10_000, "", "").unwrap().size, MAX_PAGE_SIZE);
        assert_eq!(Page::from_request(-1, "", "").unwrap_err().field, "page_size");
    }

    #[test]
    fn rejects_foreign_and_garbled_tokens() {
        let token = Page::from_request(1, "", "a").unwrap().next_token(3, "a");
        assert!(Page::from_request(1, &token, "b").is_err());
        assert!(Page::from_request(1, "not a token!", "a").is_err());
    }
}
