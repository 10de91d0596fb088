//! One request over loopback, as the dashboard and server tests speak to the server.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// One GET of `path` on 127.0.0.1:`port` over a fresh connection (`Connection: close`), with
/// this `Host` and `extra_headers` (each ending in `\r\n`): (status, head as sent, body), a
/// chunked body decoded.
pub fn get(port: u16, path: &str, host: &str, extra_headers: &str) -> (u16, String, Vec<u8>) {
    request(port, "GET", path, host, extra_headers, b"").expect("the server did not answer")
}

/// One request with a body (`Content-Length` is added) over a fresh connection, as [`get`];
/// an error when the connection fails or the answer is cut short (a server down or killed).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    host: &str,
    extra_headers: &str,
    body: &[u8],
) -> std::io::Result<(u16, String, Vec<u8>)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let length = if body.is_empty() { String::new() } else { format!("Content-Length: {}\r\n", body.len()) };
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{length}{extra_headers}\r\n")?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let cut = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the answer was cut short");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(cut)?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(cut)?;
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok((status, head, body))
}

/// A chunked HTTP/1.1 body, decoded.
pub fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").expect("bad chunk");
        let size = usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}
