"""The ``digest`` command line: a thin layer over :mod:`alliance_digest.services`."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from alliance_digest import __version__

KINDS = click.Choice(["auto", "feed", "page", "jsonl"])


class Context:
    def __init__(self, home: str | None):
        self.home = home
        self._opened = None

    def open(self):
        """Open the workspace (Django set up, schema current) once per command."""
        if self._opened is None:
            from alliance_digest.profile import ProfileError
            from alliance_digest.workspace import WorkspaceError, open_workspace

            try:
                self._opened = open_workspace(self.home)
            except (WorkspaceError, ProfileError) as exc:
                raise click.ClickException(str(exc)) from None
        return self._opened


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (expected YYYY-MM-DD)") from None


def _error(message: str) -> None:
    click.echo(f"error: {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", envvar="DIGEST_HOME", metavar="DIR",
              help="Workspace directory (default: $DIGEST_HOME, else the current directory).")
@click.version_option(__version__, prog_name="digest")
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """Alliance Digest: compile, draft and render a recurring news digest.

    Typical use: `digest init`, edit digest.toml, then `digest ingest`,
    `digest draft` and `digest render latest`.
    """
    ctx.obj = Context(home)


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.pass_obj
def init(obj: Context, directory: str | None) -> None:
    """Create a workspace in DIRECTORY (default: --home, else the current directory).

    Writes digest.toml (the US-Japan Alliance Digest profile, ready to edit)
    and an SQLite database in WAL mode.
    """
    from alliance_digest.workspace import WorkspaceError, init as init_workspace

    target = Path(directory or obj.home or ".")
    try:
        path = init_workspace(target)
    except WorkspaceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created workspace {path} (profile: {path / 'digest.toml'})")


@cli.command()
@click.argument("inputs", nargs=-1, metavar="[INPUT]...")
@click.option("--kind", type=KINDS, default="auto", show_default=True,
              help="What the inputs are; auto detects feeds, HTML pages and JSONL.")
@click.option("--source", "source_name", metavar="NAME", help="Outlet name for these inputs.")
@click.pass_obj
def ingest(obj: Context, inputs: tuple[str, ...], kind: str, source_name: str | None) -> None:
    """Read articles from INPUTs, or from the profile's sources when none are given.

    An INPUT is a feed (RSS/Atom), an article page (HTML) or a JSONL file, as
    a path, a directory of such files, a file:// URL or an http(s):// URL.
    Duplicates are stored once; re-running is harmless.
    """
    _, profile = obj.open()
    from tqdm import tqdm

    from alliance_digest import services
    from alliance_digest.pipeline.read import expand

    if inputs:
        locations = [(i, kind, source_name) for i in inputs]
    else:
        locations = services.profile_locations(profile)
        if not locations:
            raise click.ClickException("no inputs given and the profile lists no enabled sources")
    total = sum(len(expand(loc)) for loc, _, _ in locations)
    bar = tqdm(total=total, unit="input", disable=not sys.stderr.isatty(), leave=False)
    report = services.ingest(locations, profile, on_problem=lambda p: _error(str(p)), progress=bar.update)
    bar.close()
    click.echo(report.summary())
    if report.new + report.duplicate == 0 and report.failed:
        sys.exit(1)


@cli.command()
@click.option("--start", callback=_date, metavar="DATE", help="First day of the window (YYYY-MM-DD).")
@click.option("--end", callback=_date, metavar="DATE", help="Last day of the window (default: today).")
@click.option("--replace", is_flag=True, help="Redraft an existing unapproved draft for the same window.")
@click.pass_obj
def draft(obj: Context, start: date | None, end: date | None, replace: bool) -> None:
    """Draft the next issue from the articles published in a window.

    The default window is the profile's cadence (14 days) ending today.
    """
    _, profile = obj.open()
    from alliance_digest import services
    from alliance_digest.pipeline.compose import Window

    end = end or date.today()
    start = start or Window.ending(end, profile.cadence_days).start
    if start > end:
        raise click.BadParameter(f"--start {start} is after --end {end}")
    try:
        issue, comp = services.draft_issue(profile, Window(start, end), replace=replace)
    except services.ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"drafted issue {issue.key} ({profile.numbering.label(issue.volume, issue.number)}) "
               f"for {start}..{end}: {len(comp.selected)} stories, {len(comp.candidates)} candidates")
    for k, story in enumerate(comp.selected, start=1):
        click.echo(f"  {k}. {story.headline}  (score {story.score:.2f}, {len(story.outlets)} outlet(s))")
    if comp.thin:
        click.echo(comp.notice())


@cli.command()
@click.argument("issue", default="latest")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "txt", "json"]), default="md", show_default=True)
@click.option("--all", "include_all", is_flag=True,
              help="JSON only: add all_stories, every story formed in the window, relevant or not.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to a file.")
@click.pass_obj
def render(obj: Context, issue: str, fmt: str, include_all: bool, output: str | None) -> None:
    """Render ISSUE (V.N such as 2.20, or latest) as Markdown, HTML, text or JSON."""
    _, profile = obj.open()
    from alliance_digest import services
    from alliance_digest.render import render as render_issue

    try:
        found = services.find_issue(issue)
    except services.ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    if include_all and fmt != "json":
        raise click.BadParameter("--all only applies to --format json")
    text = render_issue(services.issue_data(found, profile, include_all=include_all), fmt)
    if output:
        Path(output).write_text(text, "utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option("--start", callback=_date, metavar="DATE", help="Published on or after this day.")
@click.option("--end", callback=_date, metavar="DATE", help="Published on or before this day.")
@click.option("--min-score", type=float, default=0.0, show_default=True, help="Only articles at least this relevant.")
@click.option("--search", metavar="TEXT", help="Only articles whose title contains TEXT.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--explain", is_flag=True, help="Show why each article scored as it did.")
@click.pass_obj
def articles(obj: Context, start, end, min_score: float, search: str | None, limit: int, explain: bool) -> None:
    """List stored articles, most relevant first, with their topic scores."""
    obj.open()
    from alliance_digest.db.models import Article
    from alliance_digest.pipeline.compose import Window

    rows = Article.objects.filter(relevance__gte=min_score)
    if start:
        rows = rows.filter(published__gte=Window(start, start).start_dt)
    if end:
        rows = rows.filter(published__lt=Window(end, end).end_dt)
    if search:
        rows = rows.filter(title__icontains=search)
    for article in rows.order_by("-relevance", "-published", "id")[:limit]:
        day = article.published.date().isoformat() if article.published else "no date   "
        click.echo(f"{article.relevance:.3f}  {day}  {article.source[:24]:<24}  {article.title[:90]}")
        if explain:
            why = article.relevance_explanation or {}
            for key in ("entities", "terms", "exclusions"):
                if why.get(key):
                    click.echo(f"{'':>19}{key}: " + ", ".join(f"{k} x{v}" for k, v in why[key].items()))
            model = why.get("model") or {}
            if model:
                words = model.get("words") or {}
                shown = ", ".join(f"{k} {v:+.2f}" for k, v in list(words.items())[:6]) if isinstance(words, dict) else ""
                click.echo(f"{'':>19}model: probability {model.get('probability', 0):.2f}"
                           + (f"; words: {shown}" if shown else ""))


@cli.command("issues")
@click.pass_obj
def list_issues(obj: Context) -> None:
    """List the issues of this workspace, newest first."""
    obj.open()
    from alliance_digest.db.models import Issue

    rows = Issue.objects.all()
    if not rows:
        click.echo("no issues yet")
    for issue in rows:
        count = issue.stories.filter(selected=True).count()
        click.echo(f"{issue.key:>7}  {issue.date}  {issue.status:<9}  {count} stories  "
                   f"window {issue.window_start}..{issue.window_end}")


@cli.command()
@click.argument("directory", required=False, default="demo-workspace", type=click.Path(file_okay=False))
@click.pass_obj
def demo(obj: Context, directory: str) -> None:
    """Build a fresh workspace from the bundled sample corpus and draft an issue.

    Offline: reads the sample feeds, pages and JSONL shipped with the
    package. Re-running replaces an earlier demo workspace in DIRECTORY.
    """
    from alliance_digest.demo import DemoError, run_demo

    try:
        result = run_demo(Path(directory), echo=click.echo, on_problem=lambda p: _error(str(p)))
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Markdown: {result['md']}")
    click.echo(f"HTML:     {result['html']}")


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def manage(obj: Context, args: tuple[str, ...]) -> None:
    """Run a Django management command on the workspace (e.g. createsuperuser)."""
    obj.open()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["digest manage", *args])


@cli.command()
@click.argument("labels", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--forget", is_flag=True, help="Delete the learned model: score with the profile's rules alone.")
@click.option("--top", type=int, default=10, show_default=True, help="How many of the strongest words to show.")
@click.pass_obj
def learn(obj: Context, labels: Path | None, forget: bool, top: int) -> None:
    """Train the relevance model from LABELS, a JSONL of editors' labels.

    One object a line: {"url": ..., "label": 0|1|2} (0 not for the digest,
    1 related, 2 core). URLs are matched to stored articles; an item not in
    the store may bring its own "title" and "text" or "summary". Bad lines
    are reported and skipped. The model (relevance_model.json, in the
    workspace) is then used with the rules: stored articles are re-scored
    when next drafted, and each score's explanation gains a "model" part
    (the probability and the words that moved it).
    """
    _, profile = obj.open()
    from alliance_digest import learning

    if forget:
        if labels:
            raise click.BadParameter("give either LABELS or --forget")
        removed = learning.forget(profile)
        click.echo("learned model deleted: scoring with the profile's rules alone" if removed
                   else "no learned model to delete")
        return
    if labels is None:
        raise click.UsageError("give a LABELS.jsonl file (or --forget)")
    try:
        report = learning.learn_from_file(profile, labels)
    except learning.LearnError as exc:
        for problem in (exc.report.problems if exc.report else []):
            _error(str(problem))
        raise click.ClickException(str(exc)) from None
    for problem in report.problems:
        _error(str(problem))
    click.echo(report.summary())
    click.echo(f"model saved to {report.path}")
    positive, negative = report.model.top_features(top)
    click.echo("for the digest:     " + ", ".join(f"{w} ({v:+.2f})" for w, v in positive))
    click.echo("not for the digest: " + ", ".join(f"{w} ({v:+.2f})" for w, v in negative))
    click.echo("rule signals:       " + ", ".join(f"{k} ({v:+.2f})" for k, v in report.model.rule_coefficients.items()))


# ---- subscribers (issue 4): `digest subscribers ...` goes here ----

# ---- delivery (issue 4): `digest approve`, `digest send`, `digest bounces` go here ----


@cli.group("eval")
def eval_group() -> None:
    """Measure editorial quality on real, labelled data (default: ../shared/data).

    Each stage prints a table (or JSON with --json). Nothing is written to
    any workspace: evaluations that need one make a temporary one.
    """


def _data_option(f):
    return click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
                        help="Evaluation data folder (default: $DIGEST_SHARED_DATA, else ../shared/data).")(f)


def _json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")(f)


def _run_eval(stage: str, data_dir: Path | None, as_json: bool, **options) -> None:
    import importlib
    import time

    from alliance_digest.evaluation import DataMissing, default_data_dir

    module = importlib.import_module(f"alliance_digest.evaluation.{stage}")
    begin = time.perf_counter()
    try:
        report = module.run(data_dir or default_data_dir(), **options)
    except DataMissing as exc:
        raise click.ClickException(str(exc)) from None
    report.seconds = time.perf_counter() - begin
    click.echo(report.to_json() if as_json else report.table())


@eval_group.command("extraction")
@_data_option
@_json_option
@click.option("--limit", type=int, help="Only the first N pages (default: all 181).")
def eval_extraction(data_dir, as_json, limit) -> None:
    """Main-text extraction: token precision/recall/F1 against the benchmark's gold, next to plain trafilatura."""
    _run_eval("extraction", data_dir, as_json, limit=limit)


@eval_group.command("grouping")
@_data_option
@_json_option
@click.option("--threshold", type=float, help="Grouping threshold to try (default: the default profile's).")
def eval_grouping(data_dir, as_json, threshold) -> None:
    """Story grouping: B-cubed on ECB+ and pairwise F1 on the news windows' event ids."""
    _run_eval("grouping", data_dir, as_json, threshold=threshold)


@eval_group.command("selection")
@_data_option
@_json_option
@click.option("--train-windows", metavar="A,B,C",
              help="Train `digest learn`'s model on these windows; evaluate the others with and without it.")
@click.option("--leave-one-out", is_flag=True, help="For every window: train on the others, evaluate it.")
def eval_selection(data_dir, as_json, train_windows, leave_one_out) -> None:
    """Selection: lead story, precision@k, core-event recall, duplicates and thin windows per labelled window."""
    names = [n.strip() for n in train_windows.split(",") if n.strip()] if train_windows else None
    try:
        _run_eval("selection", data_dir, as_json, train_windows=names, leave_one_out=leave_one_out)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--train-windows") from None


@eval_group.command("summaries")
@_data_option
@_json_option
def eval_summaries(data_dir, as_json) -> None:
    """Summaries: ROUGE-1/2 against human summaries next to the lead-item baseline, and grounding."""
    _run_eval("summaries", data_dir, as_json)


@eval_group.command("all")
@_data_option
@_json_option
def eval_all(data_dir, as_json) -> None:
    """Every stage in turn: extraction, grouping, selection (with --leave-one-out), summaries."""
    for stage, options in (("extraction", {}), ("grouping", {}), ("selection", {"leave_one_out": True}),
                           ("summaries", {})):
        _run_eval(stage, data_dir, as_json, **options)


def main() -> None:
    cli(prog_name="digest")


if __name__ == "__main__":
    main()
