//! Order-keeping parallel map for the work that is independent per item (reading and parsing
//! files). Pure computation on scoped threads; the caller says how many.

use crate::core::source::SourceError;

/// Applies `f` to every item on up to `threads` threads and returns the results in input order,
/// or the first error. Small inputs run on the calling thread.
pub fn map<T, R, F>(items: Vec<T>, threads: usize, f: F) -> Result<Vec<R>, SourceError>
where
    T: Send,
    R: Send,
    F: Fn(T) -> Result<R, SourceError> + Sync,
{
    let threads = threads.clamp(1, 16);
    if threads == 1 || items.len() < 64 {
        return items.into_iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let mut chunks: Vec<Vec<T>> = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let tail = rest.split_off(chunk.min(rest.len()));
        chunks.push(rest);
        rest = tail;
    }
    let f = &f;
    let results: Vec<Result<Vec<R>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || chunk.into_iter().map(f).collect::<Result<Vec<R>, _>>().map_err(|e| e.to_string()))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a worker thread panicked".to_string()))).collect()
    });
    let mut out = Vec::new();
    for result in results {
        out.extend(result?);
    }
    Ok(out)
}

/// Like `map`, for a few large items (sub-folders to compare): each thread takes the next item
/// when it is done with one, whatever the count, so uneven items still keep every thread busy.
pub fn map_each<T, R, F>(items: Vec<T>, threads: usize, f: F) -> Result<Vec<R>, SourceError>
where
    T: Send + Sync,
    R: Send,
    F: Fn(&T) -> Result<R, SourceError> + Sync,
{
    let threads = threads.clamp(1, 16).min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (f, items, next) = (&f, &items, &next);
    let results: Vec<Result<Vec<(usize, R)>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(index) else { return Ok(done) };
                        done.push((index, f(item).map_err(|e| e.to_string())?));
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a worker thread panicked".to_string()))).collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for result in results {
        out.extend(result?);
    }
    out.sort_by_key(|(index, _)| *index);
    Ok(out.into_iter().map(|(_, r)| r).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_item_once_in_order_with_errors() {
        let items: Vec<u32> = (0..7).collect();
        assert_eq!(super::map_each(items.clone(), 2, |i| Ok(i * 3)).unwrap(), [0, 3, 6, 9, 12, 15, 18]);
        let failed = super::map_each(items, 3, |i| if *i == 5 { Err("boom".into()) } else { Ok(*i) });
        assert_eq!(failed.unwrap_err().to_string(), "boom");
    }

    #[test]
    fn keeps_order_and_reports_errors() {
        let items: Vec<u32> = (0..1000).collect();
        let doubled = super::map(items.clone(), 3, |i| Ok(i * 2)).unwrap();
        assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        let failed = super::map(items, 2, |i| if i == 700 { Err("boom".into()) } else { Ok(i) });
        assert_eq!(failed.unwrap_err().to_string(), "boom");
    }
}
