//! AIP-158 pagination: `page_size` normalisation and opaque page tokens that remember
//! the position and the filter they were issued for, so a token cannot silently be
//! replayed against a different query.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::status::FieldViolation;

/// Page size used when the caller sends 0.
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// Largest page served; larger requests are clamped (AIP-158).
pub const MAX_PAGE_SIZE: u64 = 500;

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
        let next = self.offset + self.size;
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
    offset.parse().map_err(|_| invalid())
}

/// FNV-1a: stable across processes and versions, unlike `DefaultHasher`.
fn fingerprint(filter: &str) -> u64 {
    filter.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
