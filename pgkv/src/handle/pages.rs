//! A scan as a stream of pages, read by keyset one statement at a time, so a
//! whole prefix is never held in one `Vec`.

use futures_util::Stream;
use futures_util::stream::try_unfold;

use crate::error::Result;
use crate::handle::store::Store;
use crate::ops::scan::{KeyValue, ScanOptions};

impl Store {
    /// The keys and values `opts` selects, as a stream of pages of
    /// `opts.limit` pairs (1,000 when unset), in ascending key order. Each
    /// page is one statement on a pooled connection, starting after the last
    /// key of the page before (keyset pagination: every page costs the same,
    /// and concurrent writes never make a key repeat or go missing if it
    /// stays put). `offset` applies to the first page only. The stream ends
    /// after a page shorter than the page size.
    ///
    /// ```no_run
    /// use futures_util::TryStreamExt;
    /// use pgkv::ScanOptions;
    ///
    /// # async fn demo(store: pgkv::Store) -> pgkv::Result<()> {
    /// let mut pages = std::pin::pin!(store.scan_pages(ScanOptions::new().prefix("user:").limit(500)));
    /// while let Some(page) = pages.try_next().await? {
    ///     for pair in page {
    ///         println!("{} = {} bytes", pair.key, pair.value.len());
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn scan_pages(
        &self,
        opts: ScanOptions,
    ) -> impl Stream<Item = Result<Vec<KeyValue>>> + Send + 'static {
        let size = opts.page_size();
        let first = opts.limit(size);
        try_unfold((self.clone(), Some(first)), move |(store, next)| async move {
            let Some(opts) = next else { return Ok(None) };
            let page = store.scan(opts.clone()).await?;
            if page.is_empty() {
                return Ok(None);
            }
            let following = match page.last() {
                Some(last) if page.len() as u64 >= size => Some(opts.next_page(&last.key)),
                _ => None,
            };
            Ok(Some((page, (store, following))))
        })
    }
}
