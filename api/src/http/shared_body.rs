//! A large body held once in memory (a site's snapshot document), answered to many connections
//! without a copy per connection.
//!
//! actix-http copies each chunk a body yields into the connection's write buffer, and polls for
//! the next only while that buffer is below its high-water mark (`h1_write_buffer_size`). A 4 MB
//! document yielded as one chunk is therefore copied whole for every connection that is sending
//! it: 32 gateways fetching one snapshot held 130 MB of copies. Yielded as slices of the shared
//! bytes (no copy: `Bytes::slice` shares the allocation), each connection holds at most a slice.

use actix_web::body::SizedStream;
use actix_web::web::Bytes;
use futures_util::stream::{self, Stream};

/// What a connection copies at a time.
const SLICE: usize = 64 * 1024;

/// The bytes as a sized body (Content-Length as before) yielded a slice at a time.
pub fn shared(body: Bytes) -> SizedStream<impl Stream<Item = Result<Bytes, std::convert::Infallible>>> {
    let len = body.len() as u64;
    let slices =
        (0..body.len()).step_by(SLICE).map(move |start| Ok(body.slice(start..(start + SLICE).min(body.len()))));
    SizedStream::new(len, stream::iter(slices))
}
