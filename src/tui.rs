//! The terminal of `migrate select`: draws a `core::select::Screen` with ratatui and turns
//! crossterm key events into its keys. Everything it shows is decided by the screen's model.

use std::io::{self, Stdout};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::layout::{Constraint, Direction, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph};

use crate::core::select::{Choice, Key, Outcome, Screen};

/// Raw mode and the alternate screen, left again when dropped (on an error too).
struct Guard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Guard {
    fn new() -> io::Result<Guard> {
        enable_raw_mode()?;
        let mut stdout = io::stdout();
        if let Err(e) = execute!(stdout, EnterAlternateScreen) {
            let _ = disable_raw_mode();
            return Err(e);
        }
        Ok(Guard { terminal: Terminal::new(CrosstermBackend::new(stdout))? })
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = disable_raw_mode();
        let _ = execute!(self.terminal.backend_mut(), LeaveAlternateScreen);
        let _ = self.terminal.show_cursor();
    }
}

/// Runs the screen until the release manager confirms or quits.
pub fn run(screen: &mut Screen, title: &str) -> io::Result<Outcome> {
    let mut guard = Guard::new()?;
    loop {
        guard.terminal.draw(|frame| draw(frame, screen, title))?;
        let Event::Key(key) = event::read()? else { continue };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        let key = match key.code {
            KeyCode::Up | KeyCode::Char('k') => Key::Up,
            KeyCode::Down | KeyCode::Char('j') => Key::Down,
            KeyCode::Char(' ') => Key::Toggle,
            KeyCode::Char('a') => Key::Always,
            KeyCode::PageDown | KeyCode::Char('J') => Key::DiffDown,
            KeyCode::PageUp | KeyCode::Char('K') => Key::DiffUp,
            KeyCode::Enter => Key::Confirm,
            KeyCode::Esc | KeyCode::Char('q') => Key::Quit,
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Key::Quit,
            _ => continue,
        };
        match screen.key(key) {
            Outcome::Continue => {}
            done => return Ok(done),
        }
    }
}

fn draw(frame: &mut ratatui::Frame<'_>, screen: &Screen, title: &str) {
    let [top, body, help] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Length(1), Constraint::Min(3), Constraint::Length(2)])
        .areas(frame.area());
    let [list_area, diff_area] = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(45), Constraint::Percentage(55)])
        .areas(body);
    frame.render_widget(Paragraph::new(title.to_string()).style(Style::new().add_modifier(Modifier::BOLD)), top);

    let items: Vec<ListItem<'_>> = screen
        .rows
        .iter()
        .map(|row| {
            let mark = match row.choice {
                Choice::Selected => "[x]",
                Choice::SkipThis => "[ ]",
                Choice::SkipAlways => "[-]",
            };
            let mut spans = vec![
                Span::raw(format!("{mark} {} ", row.id)),
                Span::styled(
                    format!("({}; {})", row.status(), row.choice.label()),
                    Style::new().add_modifier(Modifier::DIM),
                ),
            ];
            if !row.depends_on.is_empty() {
                let deps: Vec<String> = row.depends_on.iter().map(ToString::to_string).collect();
                spans.push(Span::raw(format!(" needs {}", deps.join(", "))));
            }
            let missing = screen.missing_dependencies(row);
            if !missing.is_empty() {
                let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
                spans.push(Span::styled(
                    format!(" ! without {}", list.join(", ")),
                    Style::new().add_modifier(Modifier::BOLD),
                ));
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let pending = format!(" {} pending for `{}` ", screen.rows.len(), screen.environment);
    let list = List::new(items)
        .block(Block::default().borders(Borders::ALL).title(pending))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    let mut state = ListState::default().with_selected((!screen.rows.is_empty()).then_some(screen.cursor));
    frame.render_stateful_widget(list, list_area, &mut state);

    let (diff_title, diff) = match screen.current() {
        Some(row) => {
            let held = match &row.held {
                Some(sha) => format!("target holds sha256:{}", sha.short()),
                None => "target has no copy".to_string(),
            };
            (format!(" {} — {held} ", row.id), row.diff.clone())
        }
        None => (" diff ".to_string(), "nothing is pending".to_string()),
    };
    let lines: Vec<Line<'_>> = diff.lines().skip(screen.diff_scroll).map(|l| Line::raw(l.to_string())).collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(diff_title)),
        diff_area,
    );

    let keys = "↑/↓ move · space: selected/skip this · a: skip always · PgUp/PgDn: diff · enter: confirm · q: quit";
    let second = screen.message.clone().unwrap_or_default();
    frame.render_widget(Paragraph::new(vec![Line::raw(keys), Line::raw(second)]), help);
}
