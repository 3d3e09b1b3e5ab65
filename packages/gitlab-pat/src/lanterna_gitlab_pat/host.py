"""GitLab as a code host: names and wording for ``lanterna.codehost``, ``[gitlab]`` settings
(API base URL; self-hosted: ``https://HOST/api/v4``) and the token variable.

Imported when plugins, tools and commands are listed: no HTTP library at module level.
"""

from __future__ import annotations

from typing import Any

from lanterna.codehost import CodeHost


def tenant_client() -> Any:
    from lanterna_gitlab_pat.api import GitLab

    return GitLab.for_current_tenant()


HOST = CodeHost(
    name="gitlab",
    label="GitLab",
    client=tenant_client,
    default_base_url="https://gitlab.com/api/v4",
    token_env=("GITLAB_TOKEN",),
    help="Read GitLab: token check, projects, files, code search, merge requests, issues.",
    repos_help="Projects the token is a member of, most recently active first.",
    repo_help="The project, GROUP/PROJECT (subgroups too).",
    repo_word="project",
    repo_format="GROUP/PROJECT",
    search_syntax="GitLab's search",
    states="open, closed, merged or all.",
    change_word="merge request",
    change_verb="mrs",
    change_sigil="!",
)
