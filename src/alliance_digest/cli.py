"""The ``digest`` command line: a thin layer over :mod:`alliance_digest.services`."""

from __future__ import annotations

import json
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


DRAFTABLE_YEARS = (1900, 2200)  # as for article dates (pipeline/dates.py): beyond is a typo


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (expected YYYY-MM-DD)") from None
    if not DRAFTABLE_YEARS[0] <= day.year <= DRAFTABLE_YEARS[1]:
        raise click.BadParameter(f"{value!r} is out of range (years {DRAFTABLE_YEARS[0]}-{DRAFTABLE_YEARS[1]})")
    return day


def _write(output: str, content: str | bytes) -> None:
    """Write a rendered issue; a path that cannot be written is one line, not a traceback."""
    try:
        if isinstance(content, bytes):
            Path(output).write_bytes(content)
        else:
            Path(output).write_text(content, "utf-8")
    except OSError as exc:
        raise click.ClickException(f"{output}: cannot write ({exc.strerror or exc})") from None


def _error(message: str) -> None:
    click.echo(f"error: {message}", err=True)


class _Group(click.Group):
    """Errors any command can meet (a damaged learned model) end in one line, not a traceback."""

    def invoke(self, ctx: click.Context):
        from alliance_digest.pipeline.learned import ModelUnreadable

        try:
            return super().invoke(ctx)
        except ModelUnreadable as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            # the database's own trouble (a full disk, a locked or unreachable database): the change in progress
            # is one transaction, so it was not saved (steps already done stay), and one line says what happened
            from django.db import OperationalError

            if not isinstance(exc, OperationalError):
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise click.ClickException(f"the database refused the change: {first} (the change in progress was "
                                       "not saved; run the command again once that is fixed)") from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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
@click.option("--profile", "profile_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="Start from this digest.toml (another digest's profile) instead of the US-Japan one.")
@click.pass_obj
def init(obj: Context, directory: str | None, profile_file: Path | None) -> None:
    """Create a workspace in DIRECTORY (default: --home, else the current directory).

    Writes digest.toml (the US-Japan Alliance Digest profile, ready to edit,
    or a copy of --profile FILE, checked first; relative paths in it are read
    from the workspace) and an SQLite database in WAL mode, and registers the
    profile's sources.
    """
    from alliance_digest.profile import ProfileError, load_profile
    from alliance_digest.workspace import WorkspaceError, init as init_workspace

    text = None
    if profile_file is not None:
        if not profile_file.is_file():
            raise click.ClickException(f"{profile_file}: no such file (--profile names a digest.toml to start from)")
        try:
            load_profile(profile_file)  # a profile that cannot work makes no workspace
            text = profile_file.read_text("utf-8-sig")
        except ProfileError as exc:
            raise click.ClickException(str(exc)) from None
        except (OSError, UnicodeError) as exc:
            raise click.ClickException(f"{profile_file}: cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    target = Path(directory or obj.home or ".")
    try:
        path = init_workspace(target, text)
    except WorkspaceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created workspace {path} (profile: {path / 'digest.toml'})")
    from alliance_digest import sources

    try:
        added = sources.seed_from_profile(load_profile(path / "digest.toml"))
    except ProfileError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{len(added)} source(s) from the profile registered (see `digest sources list`)")


@cli.command()
@click.argument("inputs", nargs=-1, metavar="[INPUT]...")
@click.option("--kind", type=KINDS, default="auto", show_default=True,
              help="What the inputs are; auto detects feeds, HTML pages and JSONL.")
@click.option("--source", "source_name", metavar="NAME", help="Outlet name for these inputs.")
@click.pass_obj
def ingest(obj: Context, inputs: tuple[str, ...], kind: str, source_name: str | None) -> None:
    """Read articles from INPUTs, or from the registered sources when none are given.

    An INPUT is a feed (RSS/Atom), an article page (HTML) or a JSONL file, as
    a path, a directory of such files, a file:// URL or an http(s):// URL
    (read by the polite fetcher; private and loopback addresses are refused
    unless the profile's [fetch] allow_private_addresses is true).
    Duplicates are stored once; re-running is harmless. With no INPUT this is
    `digest sources check`: every enabled, unpaused source, with its health
    recorded.
    """
    if not inputs:
        profile = _open_sources(obj)
        from alliance_digest import source_check

        check = source_check.run_check(profile, echo=click.echo)
        if not check.outcomes:
            raise click.ClickException("no inputs given and no enabled, unpaused sources (see `digest sources list`)")
        click.echo(check.summary())
        if check.all_failed:
            sys.exit(1)
        return
    _, profile = obj.open()
    from tqdm import tqdm

    from alliance_digest import services
    from alliance_digest.pipeline.read import expand

    locations = [(i, kind, source_name) for i in inputs]
    empty = [loc for loc, _, _ in locations if not expand(loc)]
    for loc in empty:
        _error(f"{loc}: the directory holds no feed, page or JSONL files")
    total = sum(len(expand(loc)) for loc, _, _ in locations)
    bar = tqdm(total=total, unit="input", disable=not sys.stderr.isatty(), leave=False)
    report = services.ingest(locations, profile, on_problem=lambda p: _error(str(p)), progress=bar.update)
    bar.close()
    click.echo(report.summary())
    if report.new + report.duplicate == 0 and (report.failed or empty):
        sys.exit(1)


@cli.command()
@click.option("--start", callback=_date, metavar="DATE", help="First day of the window (YYYY-MM-DD).")
@click.option("--end", callback=_date, metavar="DATE", help="Last day of the window (default: today).")
@click.option("--replace", is_flag=True,
              help="Draft an unapproved draft for the same window again, keeping the editors' changes.")
@click.option("--allow-empty", is_flag=True,
              help="Make the issue even if no article was published in the window (to fill in by hand).")
@click.pass_obj
def draft(obj: Context, start: date | None, end: date | None, replace: bool, allow_empty: bool) -> None:
    """Draft the next issue from the articles published in a window.

    The default window is the profile's cadence (14 days) ending today.
    With --replace, new coverage enters the existing draft: stories the
    editors changed keep their text, selection and order; new stories join
    the candidates; the editors' merges and splits are kept.
    """
    _, profile = obj.open()
    from alliance_digest import services
    from alliance_digest.pipeline.compose import Window

    end = end or profile.today()
    start = start or Window.ending(end, profile.cadence_days).start
    if start > end:
        raise click.BadParameter(f"--start {start} is after --end {end}")
    try:
        issue, comp = services.draft_issue(profile, profile.window(start, end), replace=replace,
                                           allow_empty=allow_empty)
    except services.ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    label = f"issue {issue.key} ({profile.numbering.label(issue.volume, issue.number)}) for {start}..{end}"
    redrafted = issue.edits.filter(action="redrafted").first()
    if redrafted is not None and redrafted.detail.get("edited"):
        from alliance_digest.editor.actions import redraft_summary

        click.echo(f"redrafted {label}: {redraft_summary(redrafted.detail).split(': ', 1)[1]}")
        for headline in redrafted.detail.get("new", []):
            click.echo(f"  new candidate: {headline}")
        for headline in redrafted.detail.get("removed", []):
            click.echo(f"  removed: {headline}")
        click.echo("  the version before is kept in the issue's history")
        return
    verb = "redrafted" if redrafted is not None else "drafted"
    click.echo(f"{verb} {label}: {len(comp.selected)} stories, {len(comp.candidates)} candidates")
    for k, story in enumerate(comp.selected, start=1):
        click.echo(f"  {k}. {story.headline}  (score {story.score:.2f}, {len(story.outlets)} outlet(s))")
    if comp.thin:
        click.echo(comp.notice())


@cli.command()
@click.argument("issue", default="latest")
@click.option("--format", "fmt", type=click.Choice(["md", "html", "txt", "json", "pdf"]), default="md",
              show_default=True)
@click.option("--all", "include_all", is_flag=True,
              help="JSON only: add all_stories, every story formed in the window, relevant or not.")
@click.option("--no-images", is_flag=True, help="PDF only: leave out the lead image and its credit line (nothing is fetched).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to a file.")
@click.pass_obj
def render(obj: Context, issue: str, fmt: str, include_all: bool, no_images: bool, output: str | None) -> None:
    """Render ISSUE (V.N such as 2.20, or latest) as Markdown, HTML, text, JSON or PDF.

    The PDF is the web page's print edition (A4, page numbers, clickable links);
    its lead image is read with the profile's [fetch] limits and address checks.
    """
    _, profile = obj.open()
    from alliance_digest import services
    from alliance_digest.render import render as render_issue

    try:
        found = services.find_issue(issue)
    except services.ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    if include_all and fmt != "json":
        raise click.BadParameter("--all only applies to --format json")
    if no_images and fmt != "pdf":
        raise click.BadParameter("--no-images only applies to --format pdf")
    if found.frozen and found.status != found.Status.DRAFT:  # what was approved (and sent), not today's profile
        import copy

        data = copy.deepcopy(found.frozen)
        data["status"] = found.status
        if isinstance(data.get("window"), dict):  # approved before windows named their zone
            data["window"].setdefault("time_zone", found.window_zone)
        if include_all:
            data["all_stories"] = services.issue_data(found, profile, include_all=True)["all_stories"]
    else:
        data = services.issue_data(found, profile, include_all=include_all)
    if fmt == "pdf":
        from alliance_digest.render.pdf import PdfUnavailable, lead_image_loader, render_pdf

        stdout = click.get_binary_stream("stdout")
        if not output and stdout.isatty():
            raise click.UsageError("a PDF is binary: give -o FILE (or redirect the output)")
        try:
            pdf, notes = render_pdf(data, None if no_images else lead_image_loader(profile))
        except PdfUnavailable as exc:
            raise click.ClickException(str(exc)) from None
        for note in notes:
            click.echo(note, err=True)
        if output:
            _write(output, pdf)
            click.echo(f"wrote {output} ({len(pdf) // 1024 + 1} KB)")
        else:
            stdout.write(pdf)
        return
    text = render_issue(data, fmt)
    if output:
        _write(output, text)
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


@cli.command()
@click.option("--start", callback=_date, metavar="DATE", help="Published on or after this day.")
@click.option("--end", callback=_date, metavar="DATE", help="Published on or before this day.")
@click.option("--min-score", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Only articles at least this relevant.")
@click.option("--search", metavar="TEXT", help="Only articles whose title contains TEXT.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--explain", is_flag=True, help="Show why each article scored as it did.")
@click.pass_obj
def articles(obj: Context, start, end, min_score: float, search: str | None, limit: int, explain: bool) -> None:
    """List stored articles, most relevant first, with their topic scores.

    Scores made under an older profile or model (after `digest learn`, or an
    edit of [topic]) are brought up to date first, so the list shows what
    the next draft would use.
    """
    if min_score != min_score:  # NaN passes any range check
        raise click.BadParameter("--min-score must be a number between 0 and 1")
    if start and end and start > end:
        raise click.BadParameter(f"--start {start} is after --end {end}")
    _, profile = obj.open()
    from alliance_digest import services
    from alliance_digest.db.models import Article
    from alliance_digest.pipeline.learned import ModelUnreadable

    from django.db.models import Q

    def announce(count: int) -> None:
        if count >= 2000:  # about 2 ms each: say why the list takes a while
            click.echo(f"scoring {count} article(s) again under the current topic profile and learned model "
                       "(once after a change) ...", err=True)

    try:
        rescored = services.refresh_relevance(profile, profile.window(start or date(1900, 1, 1),
                                                                      end or date(2200, 12, 31)),
                                              only=Q(title__icontains=search) if search else None, before=announce)
    except ModelUnreadable as exc:
        rescored = 0
        click.echo(f"warning: {exc}; the scores below are as stored", err=True)
    if rescored:
        click.echo(f"{rescored} article(s) scored again under the current topic profile and learned model", err=True)

    rows = Article.objects.filter(relevance__gte=min_score)
    if start:
        rows = rows.filter(published__gte=profile.window(start, start).start_dt)
    if end:
        rows = rows.filter(published__lt=profile.window(end, end).end_dt)
    if search:
        rows = rows.filter(title__icontains=search)
    for article in rows.order_by("-relevance", "-published", "id")[:limit]:
        day = article.published.astimezone(profile.zone).date().isoformat() if article.published else "no date   "
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


@cli.command("edits")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Only the N newest issues.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.pass_obj
def edits_command(obj: Context, limit: int | None, as_json: bool) -> None:
    """How much the editors changed each approved issue's draft.

    Per approved or published issue: the stories it ran with, how many were
    the machine's own picks, how many the editors included from the
    candidates or added by hand, how many machine picks they dropped, the
    merges and splits, and the stories they rewrote. The share of machine
    picks is the digest's quality as its editors see it.
    """
    obj.open()
    from alliance_digest import edits

    rows = edits.recent(limit)
    total = edits.total(rows)
    if as_json:
        click.echo(json.dumps({"issues": [r.as_dict() for r in rows], "total": total.as_dict()}, indent=2))
        return
    if not rows:
        click.echo("no approved issue yet: the editors' changes are counted once an issue is approved")
        return
    head = ("issue", "status", "stories", "machine's", "included", "added", "dropped", "merged", "split",
            "rewritten")
    table = [head] + [(r.issue, r.status, r.stories, f"{r.machine} ({r.machine_share or 0:.0%})", r.included,
                       r.added, r.dropped, r.merged, r.split, r.rewritten) for r in rows + [total]]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    for row in table:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())


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
        result = run_demo(Path(directory), echo=click.echo, on_problem=lambda p: _error(str(p)), pdf=True)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Markdown: {result['md']}")
    click.echo(f"HTML:     {result['html']}")
    if "pdf" in result:
        click.echo(f"PDF:      {result['pdf']}")


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
@click.option("--decisions/--no-decisions", default=True, show_default=True,
              help="Also learn from the editors' decisions stored by the web app.")
@click.pass_obj
def learn(obj: Context, labels: Path | None, forget: bool, top: int, decisions: bool) -> None:
    """Train the relevance model from the editors' decisions and/or LABELS.

    The web app keeps every include, drop and approval: the articles of a
    story an editor included or approved count as core (2), those of a
    dropped story as not for the digest (0); for one URL the latest
    decision counts. LABELS, a JSONL file, adds labels or overrides those:
    one object a line, {"url": ..., "label": 0|1|2} (0 not for the digest,
    1 related, 2 core). URLs are matched to stored articles; an item not in
    the store may bring its own "title" and "text" or "summary". Bad lines
    are reported and skipped. Training starts afresh from all labels each
    time. The model (relevance_model.json, in the workspace) is then used
    with the rules: stored articles are re-scored when next drafted, and
    each score's explanation gains a "model" part (the probability and the
    words that moved it).
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
    try:
        report = learning.learn(profile, labels, decisions=decisions)
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

SUBSCRIBER_STATUSES = click.Choice(["pending", "active", "unsubscribed", "bounced", "complained"])


@cli.group("subscribers")
def subscribers_group() -> None:
    """Manage the mailing list: add, import, export, list and remove subscribers.

    Double opt-in: a new address is pending until its owner follows the
    confirmation link emailed to it; only active (confirmed) subscribers
    receive issues. --confirmed records that the person has consented
    already (e.g. on a paper form) and makes them active at once.
    """


@subscribers_group.command("add", short_help="Add an address (emails a confirmation link unless --confirmed).")
@click.argument("email")
@click.option("--name", default="", metavar="NAME", help="The subscriber's name.")
@click.option("--confirmed", is_flag=True,
              help="The person has consented already: active at once, no confirmation email.")
@click.pass_obj
def subscribers_add(obj: Context, email: str, name: str, confirmed: bool) -> None:
    """Add EMAIL to the list; without --confirmed, email it a confirmation link.

    Adding a pending address again sends the link again; an unsubscribed
    one becomes pending and must confirm again.
    """
    _, profile = obj.open()
    from alliance_digest import subscribers
    from alliance_digest.mailer import MailError

    try:
        before = subscribers.find(email)
        subscriber, created = subscribers.add(profile, email, name=name, confirmed=confirmed, source="cli",
                                              send=False)
    except subscribers.InvalidAddress as exc:
        raise click.ClickException(str(exc)) from None
    was = before.status if before else None
    if created:
        click.echo(f"added {subscriber.email} ({subscriber.status})")
    elif was == subscriber.status:
        click.echo(f"{subscriber.email} is already on the list ({subscriber.status})")
    else:
        click.echo(f"{subscriber.email}: {was} -> {subscriber.status}")
    if subscriber.status == "pending":
        try:
            subscribers.send_confirmation(profile, subscriber)
        except MailError as exc:
            _error(f"{exc}; it stays pending: run this command again to resend")
            return
        click.echo(f"confirmation email sent to {subscriber.email} "
                   f"(the link works for {profile.email.confirm_hours:g} hours)")


@subscribers_group.command("import", short_help="Import addresses from a CSV file.")
@click.argument("csv_file", metavar="CSV", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--confirmed", is_flag=True,
              help="Every row has consented already: active at once, no confirmation emails.")
@click.pass_obj
def subscribers_import(obj: Context, csv_file: Path, confirmed: bool) -> None:
    """Import subscribers from CSV; without --confirmed each new one gets a confirmation email.

    UTF-8 (with or without a BOM), separated by `,` `;` or tabs, quoted
    fields allowed. The header names the address column (email, E-mail,
    Email Address...) and optionally name, or first and last name. Invalid
    addresses and duplicates are reported by row number (the header is
    row 1) and skipped; the other rows are imported. Addresses already on
    the list are left as they are (--confirmed activates pending ones);
    unsubscribed, bounced and complained ones are never re-subscribed.
    """
    _, profile = obj.open()
    from alliance_digest import subscribers

    try:
        report = subscribers.import_csv(profile, csv_file, confirmed=confirmed)
    except subscribers.ImportFailed as exc:
        raise click.ClickException(str(exc)) from None
    for problem in report.problems:
        _error(f"{csv_file} row {problem.row}: {problem.message}")
    for message in report.mail_errors:
        _error(message)
    click.echo(report.summary())
    if not report.done:
        sys.exit(1)


@subscribers_group.command("export", short_help="Write the list as CSV.")
@click.argument("csv_file", metavar="[CSV|-]", default="-", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--status", type=SUBSCRIBER_STATUSES, help="Only subscribers with this status.")
@click.pass_obj
def subscribers_export(obj: Context, csv_file: str, status: str | None) -> None:
    """Write the list as CSV to a file, or to standard output (the default, or -).

    Columns: email, name, status, source, created_at, confirmed_at,
    unsubscribed_at, consent_at, consent_method, consent_ip. The file can be
    imported again.
    """
    obj.open()
    from alliance_digest import subscribers

    if csv_file == "-":
        subscribers.export_csv(click.get_text_stream("stdout"), status=status)
        return
    try:
        count = subscribers.export_csv(csv_file, status=status)
    except OSError as exc:
        raise click.ClickException(f"{csv_file}: cannot be written: {exc.strerror or exc}") from None
    click.echo(f"wrote {count} subscriber(s) to {csv_file}")


@subscribers_group.command("list", short_help="List subscribers.")
@click.option("--status", type=SUBSCRIBER_STATUSES, help="Only subscribers with this status.")
@click.pass_obj
def subscribers_list(obj: Context, status: str | None) -> None:
    """List subscribers: status, address, name, where they came from, when they joined."""
    obj.open()
    from django.utils import timezone

    from alliance_digest import subscribers
    from alliance_digest.db.models import Subscriber

    rows = Subscriber.objects.order_by("email_normalized")
    if status:
        rows = rows.filter(status=status)
    shown = 0
    for s in rows.iterator():
        joined = timezone.localtime(s.created_at).date()
        click.echo(f"{s.status:<12}  {s.email:<40}  {s.name[:30]:<30}  {s.source:<8}  {joined}")
        shown += 1
    if not shown:
        click.echo(f"no {status} subscribers" if status else "no subscribers yet")
        return
    by_status = subscribers.counts()
    click.echo(f"{shown} subscriber(s)" + ("" if status else " (" + ", ".join(
        f"{by_status[k]} {k}" for k in ("active", "pending", "unsubscribed", "bounced", "complained")
        if by_status.get(k)) + ")"))


@subscribers_group.command("remove", short_help="Delete an address from the list.")
@click.argument("email")
@click.pass_obj
def subscribers_remove(obj: Context, email: str) -> None:
    """Delete EMAIL's record (and its delivery history) from the list for good.

    To stop sending while keeping the record (and so never re-importing the
    address by mistake), prefer the unsubscribe link.
    """
    obj.open()
    from alliance_digest import subscribers

    try:
        subscriber = subscribers.find(email)
    except subscribers.InvalidAddress as exc:
        raise click.ClickException(str(exc)) from None
    if subscriber is None or not subscribers.remove(email):
        raise click.ClickException(f"{email.strip()} is not on the list; nothing removed")
    click.echo(f"removed {subscriber.email} ({subscriber.status}) and its delivery records")

# ---- delivery (issue 4): `digest approve`, `digest send`, `digest bounces` go here ----

@cli.command()
@click.argument("issue")
@click.pass_obj
def approve(obj: Context, issue: str) -> None:
    """Approve ISSUE (V.N or latest): freeze its content; only approved issues go to subscribers.

    Recorded as the web editor's Approve is: in the issue's history, and as
    decisions `digest learn` learns from (the stories that ran are core).
    """
    _, profile = obj.open()
    import types

    from alliance_digest import services
    from alliance_digest.editor import actions

    try:
        found = services.find_issue(issue)
        actions.approve(profile, found, types.SimpleNamespace(pk=None, username="command line"))
    except (services.ServiceError, actions.EditError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"approved issue {found.key}: its content is frozen; send it with `digest send {found.key}`")


@cli.command()
@click.argument("issue")
@click.option("--test", "tests", multiple=True, metavar="ADDRESS",
              help="Send only to this address (repeatable); works on drafts; no ledger, no unsubscribe link.")
@click.option("--dry-run", is_flag=True, help="Prepare the ledger and say who would get it; send nothing.")
@click.pass_obj
def send(obj: Context, issue: str, tests: tuple[str, ...], dry_run: bool) -> None:
    """Email ISSUE to every active subscriber who has not received it yet.

    Safe to stop (Ctrl-C) or kill and run again: the delivery ledger makes
    sure nobody gets it twice (only the messages in flight at a hard kill,
    at most email.concurrency, may be repeated) and nobody is skipped.
    An approved issue is published on the archive first, so that the
    email's "View in your browser" and PDF links lead somewhere.
    """
    _, profile = obj.open()
    import signal
    import threading

    from tqdm import tqdm

    from alliance_digest import delivery, services

    try:
        found = services.find_issue(issue)
        if tests:
            sent = delivery.send_test(profile, found, list(tests))
            click.echo(f"test send of issue {found.key} to {', '.join(sent)}")
            return
        for warning in delivery.placeholder_warnings(profile):
            click.echo(f"warning: {warning}", err=True)
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *a: stop.set())
        bar = tqdm(total=None, unit="msg", disable=not sys.stderr.isatty(), leave=False)

        def notice(line: str) -> None:  # waits and retries, as they happen (above the progress bar)
            bar.clear()
            click.echo(line)
            bar.refresh()

        try:
            report = delivery.send_issue(profile, found, dry_run=dry_run, progress=bar.update, stop=stop,
                                         notice=notice)
        except KeyboardInterrupt:
            stop.set()
            raise click.ClickException(f"send of issue {found.key} interrupted; run `digest send {found.key}` to resume")
        finally:
            bar.close()
            signal.signal(signal.SIGTERM, previous)
    except (services.ServiceError, delivery.DeliveryError) as exc:
        raise click.ClickException(str(exc)) from None
    if dry_run:
        for address in report.recipients:
            click.echo(address)
        click.echo(f"dry run: {report.skipped} subscriber(s) would receive issue {found.key}; "
                   f"{report.already_sent} already have it"
                   + ("; sending also publishes it on the archive (the email links there)"
                      if found.status == found.Status.APPROVED else ""))
        return
    if report.published:
        from alliance_digest import publishing

        click.echo(f"published issue {found.key} on the archive, where the email links: "
                   f"{publishing.permalink(profile, found)}")
        publishing.wait_for_pdf_editions()
    for error in report.errors[-5:]:
        _error(error)
    click.echo(report.summary())
    ledger = delivery.ledger_summary(found)
    click.echo("ledger: " + ", ".join(f"{k} {v}" for k, v in sorted(ledger.items())))
    if not report.finished:
        sys.exit(1)


@cli.group()
def bounces() -> None:
    """Returned mail: mark bounced subscribers."""


@bounces.command("process")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--unverified", is_flag=True,
              help="Also count reports that quote no message sent from here (only for a mailbox that "
                   "nobody but your mail server can write to).")
@click.pass_obj
def bounces_process(obj: Context, path: Path, unverified: bool) -> None:
    """Read a Maildir or mbox of returned mail; hard bounces mark subscribers bounced, soft ones count.

    A report counts only when it quotes the Message-ID of an issue sent to
    that subscriber (mail servers return the original headers): returned
    mail comes to the public From address, where anyone can forge it.
    """
    _, profile = obj.open()
    from alliance_digest import bounces as bounce_mod

    try:
        report = bounce_mod.process(profile, path, unverified=unverified)
    except bounce_mod.BounceError as exc:
        raise click.ClickException(str(exc)) from None
    for address in report.now_bounced:
        click.echo(f"bounced: {address}")
    click.echo(report.summary())



@cli.command()
@click.argument("issue")
@click.pass_obj
def publish(obj: Context, issue: str) -> None:
    """Publish ISSUE (V.N or latest): put its approved content on the public archive and Atom feed.

    Its PDF edition (/issues/V-N.pdf) is made at once, so the first reader does not wait for it.
    """
    _, profile = obj.open()
    from alliance_digest import publishing, services

    try:
        found = services.find_issue(issue)
        publishing.publish(profile, found)
    except (services.ServiceError, publishing.PublishError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"published issue {found.key}: {publishing.permalink(profile, found)}")
    from alliance_digest.render.pdf import PdfUnavailable

    try:  # made now, so that the first reader does not wait for it
        publishing.pdf_edition(profile, found)
    except PdfUnavailable as exc:
        click.echo(f"note: no PDF edition: {exc}", err=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.pass_obj
def serve(obj: Context, host: str, port: int) -> None:
    """Serve the workspace's web pages for local use: the editors' app (/editor/), the public archive
    and Atom feed, subscribe/confirm/unsubscribe, and the admin.

    Development server only; behind a proxy in production run a WSGI server
    on alliance_digest.wsgi with DIGEST_HOME and DIGEST_ALLOWED_HOSTS set.
    """
    obj.open()
    import os

    from django.conf import settings
    from django.core.management import call_command

    if host not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS.append(host)
    from alliance_digest.workspace import settle_heap

    settle_heap()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "alliance_digest.settings")
    call_command("runserver", f"{host}:{port}", use_reloader=False)


@cli.command("createuser")
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input instead of prompting.")
@click.option("--email", default="", metavar="ADDRESS", help="The editor's email address.")
@click.option("--update", is_flag=True, help="Set a new password for an existing account instead of failing.")
@click.pass_obj
def createuser(obj: Context, username: str, password_stdin: bool, email: str, update: bool) -> None:
    """Create an editor account USERNAME for the web editor (/editor/).

    Prompts for the password twice unless --password-stdin is given.
    """
    obj.open()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    User = get_user_model()
    username = username.strip()
    if not username:
        raise click.ClickException("the username is empty")
    user = User.objects.filter(username=username).first()
    if user is not None and not update:
        raise click.ClickException(f"user {username!r} already exists; pass --update to set a new password")
    if password_stdin:
        password = click.get_text_stream("stdin").readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    candidate = user or User(username=username, email=email)
    try:
        validate_password(password, candidate)
    except ValidationError as exc:
        raise click.ClickException("password rejected: " + " ".join(exc.messages)) from None
    candidate.is_staff = True
    candidate.is_active = True
    if email:
        candidate.email = email
    candidate.set_password(password)
    candidate.save()
    click.echo(f"{'updated' if user is not None else 'created'} editor {username!r}; sign in at /accounts/login/")


# ---- sources and continuous operation (issue 6) ----

def _open_sources(obj: Context):
    """Open the workspace and make sure the profile's sources are registered."""
    _, profile = obj.open()
    from alliance_digest import sources

    sources.seed_from_profile(profile)
    stale = sources.left_by_profile(profile)
    if stale:
        names = ", ".join(f"#{s.id} {s.name}" for s in stale[:5]) + (" ..." if len(stale) > 5 else "")
        click.echo(f"note: {len(stale)} source(s) came from an earlier digest.toml and are no longer in it "
                   f"({names}); they are still read: `digest sources remove --left-by-profile` removes them", err=True)
    return profile


def _find_source(ref: str):
    from alliance_digest import sources

    try:
        return sources.find(ref)
    except sources.SourceError as exc:
        raise click.ClickException(str(exc)) from None


def _when(moment) -> str:
    from django.utils import timezone

    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "never"


@cli.group("sources")
def sources_group() -> None:
    """The sources the digest reads: list, add, remove, check, pause, resume, OPML.

    The workspace's database holds the list; the profile's [[sources]] are
    added to it (never removed or overwritten) on first use. A source that
    fails fetch.pause_after_failures times in a row is paused, and one that
    answers 410 Gone at once; `resume` reads it again.
    """


@sources_group.command("list", short_help="List sources with their health.")
@click.pass_obj
def sources_list(obj: Context) -> None:
    """List sources: id, name, kind, state (ok, failing, paused, disabled, new), last success, failures, last error."""
    _open_sources(obj)
    from alliance_digest import sources
    from alliance_digest.db.models import Source

    rows = list(Source.objects.order_by("id"))
    if not rows:
        click.echo("no sources yet: `digest sources add URL` or `digest sources import-opml FILE`")
        return
    from django.utils import timezone

    zone = timezone.localtime(timezone.now()).strftime("%Z")
    click.echo(f"{'id':>4}  {'name':<28}  {'kind':<5}  {'state':<8}  {'last success ' + zone:<16}  fails  last error")
    for s in rows:
        error = s.paused_reason if s.paused_at else s.last_error
        click.echo(f"{s.id:>4}  {s.name[:28]:<28}  {s.kind:<5}  {sources.state(s):<8}  "
                   f"{_when(s.last_success_at):<16}  {s.consecutive_failures:>5}  {error[:100]}")


@sources_group.command("add", short_help="Add a source (its URL must be safe to fetch).")
@click.argument("url")
@click.option("--name", default="", metavar="NAME", help="Outlet name (default: the URL's host).")
@click.option("--kind", type=click.Choice(["feed", "page", "jsonl"]), default="feed", show_default=True)
@click.option("--authority", type=float, default=0.5, show_default=True, help="0-1: how much a story gains from it.")
@click.option("--category", default="", metavar="TEXT")
@click.option("--site", default="", metavar="URL", help="The outlet's homepage (credits articles by host).")
@click.option("--full-text", is_flag=True, help="Also fetch each new feed item's page for its full text.")
@click.pass_obj
def sources_add(obj: Context, url: str, name: str, kind: str, authority: float, category: str, site: str,
                full_text: bool) -> None:
    """Add URL as a source. Refused when it resolves to a private, loopback or
    link-local address, unless fetch.allow_private_addresses is true in the
    profile. A host that does not resolve now (offline) is added with a note:
    every read checks the address it connects to. A local path or file://
    URL is accepted when it exists.
    """
    profile = _open_sources(obj)
    from alliance_digest import sources

    notes: list[str] = []
    try:
        source = sources.add(profile, url, name=name, kind=kind, authority=authority, full_text=full_text,
                             category=category, site=site, origin="cli", allow_local=True, notes=notes)
    except sources.SourceError as exc:
        raise click.ClickException(str(exc)) from None
    for note in notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"added source #{source.id} {source.name} ({source.url}); `digest sources check {source.id}` reads it now")


@sources_group.command("remove", short_help="Remove a source (its stored articles are kept).")
@click.argument("ref", metavar="URL|ID", required=False)
@click.option("--left-by-profile", is_flag=True,
              help="Remove every source an earlier digest.toml registered that the current one no longer lists.")
@click.pass_obj
def sources_remove(obj: Context, ref: str | None, left_by_profile: bool) -> None:
    """Remove a source by URL or id. Articles already stored from it are kept."""
    if bool(ref) == left_by_profile:
        raise click.UsageError("give a source (URL or id) or --left-by-profile, not both")
    profile = _open_sources(obj)
    from alliance_digest import sources

    chosen = sources.left_by_profile(profile) if left_by_profile else [_find_source(ref)]
    for source in chosen:
        try:
            sources.remove(profile, source)
        except sources.SourceError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"removed source {source.name} ({source.url}); its stored articles are kept")
    if left_by_profile and not chosen:
        click.echo("every source registered from a profile is still in digest.toml; nothing removed")


@sources_group.command("check", short_help="Fetch sources now and say what each gave.")
@click.argument("refs", nargs=-1, metavar="[URL|ID]...")
@click.pass_obj
def sources_check(obj: Context, refs: tuple[str, ...]) -> None:
    """Fetch the given sources (default: every enabled, unpaused one) now and store what they hold.

    Prints one line per source: new and duplicate articles, not modified,
    or the error in plain words. Exits non-zero only when every source failed.
    """
    profile = _open_sources(obj)
    from alliance_digest import source_check

    chosen = [_find_source(r) for r in refs] if refs else None
    report = source_check.run_check(profile, chosen, echo=click.echo)
    if not report.outcomes:
        click.echo("no sources to check (all disabled or paused?)")
        return
    click.echo(report.summary())
    if report.all_failed:
        sys.exit(1)


@sources_group.command("pause", short_help="Stop reading a source.")
@click.argument("ref", metavar="URL|ID")
@click.pass_obj
def sources_pause(obj: Context, ref: str) -> None:
    """Pause a source: it is not read until resumed."""
    _open_sources(obj)
    from alliance_digest import sources

    source = _find_source(ref)
    sources.pause(source)
    click.echo(f"paused {source.name} ({source.url})")


@sources_group.command("resume", short_help="Read a paused source again.")
@click.argument("ref", metavar="URL|ID")
@click.pass_obj
def sources_resume(obj: Context, ref: str) -> None:
    """Resume a paused source: clears its failure count; it is read on the next check."""
    _open_sources(obj)
    from alliance_digest import sources

    source = _find_source(ref)
    sources.resume(source)
    click.echo(f"resumed {source.name} ({source.url}); failure count cleared")


@sources_group.command("import-opml", short_help="Add the feeds of an OPML file.")
@click.argument("opml_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def sources_import_opml(obj: Context, opml_file: Path) -> None:
    """Add every feed of an OPML file (as exported by feed readers). Duplicates,
    unsafe URLs and bad outlines are reported, one line each, and skipped.
    """
    profile = _open_sources(obj)
    from alliance_digest import sources

    try:
        report = sources.import_opml(profile, opml_file)
    except sources.SourceError as exc:
        raise click.ClickException(str(exc)) from None
    for problem in report.problems:
        _error(f"{opml_file} {problem}")
    for note in report.notes:
        click.echo(f"note: {opml_file} {note}", err=True)
    click.echo(report.summary())


@sources_group.command("export-opml", short_help="Write the sources as OPML.")
@click.argument("opml_file", metavar="[FILE|-]", default="-", type=click.Path(dir_okay=False, allow_dash=True))
@click.pass_obj
def sources_export_opml(obj: Context, opml_file: str) -> None:
    """Write every source as OPML 2.0 to FILE or standard output (the default, or -)."""
    profile = _open_sources(obj)
    from alliance_digest import sources

    if opml_file == "-":
        sources.export_opml(click.get_binary_stream("stdout"), profile.title)
        return
    try:
        with open(opml_file, "wb") as out:
            count = sources.export_opml(out, profile.title)
    except OSError as exc:
        raise click.ClickException(f"{opml_file}: cannot be written: {exc.strerror or exc}") from None
    click.echo(f"wrote {count} source(s) to {opml_file}")


@cli.command("run")
@click.option("--once", is_flag=True, help="One cycle, then exit (for cron).")
@click.option("--interval", type=click.FloatRange(min=1), default=60, show_default=True,
              help="Seconds between cycles (each checks only the sources that are due).")
@click.option("--today", callback=_date, hidden=True, metavar="DATE", help="Pretend today is DATE (tests).")
@click.pass_obj
def run_command(obj: Context, once: bool, interval: float, today) -> None:
    """Run continuously: read due sources, draft when a window ends, email the editors.

    Each source is read on its own adaptive schedule (busy feeds often,
    quiet ones rarely, within fetch.min/max_interval_minutes). The day after
    a window of the cadence ends (its last day's news in) and no issue covers
    it, the next issue is drafted and [run] editors are emailed a link to it;
    they are also told when a source is paused. Stops cleanly on SIGTERM or Ctrl-C (exit 0).
    See docs/OPERATIONS.md for systemd and cron.
    """
    path, profile = obj.open()
    from alliance_digest import runner
    from alliance_digest.profile import PROFILE_NAME, load_profile

    sys.exit(runner.run(profile, interval=interval, once=once, today=today,
                        reload=lambda: load_profile(path / PROFILE_NAME)))


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
