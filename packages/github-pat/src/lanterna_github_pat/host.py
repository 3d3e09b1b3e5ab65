"""GitHub as a code host: names and wording for ``lanterna.codehost``, ``[github]`` settings
(API base URL; GitHub Enterprise Server: ``https://HOST/api/v3``) and the token variables.

Imported when plugins, tools and commands are listed: no HTTP library at module level.
"""

from __future__ import annotations

from typing import Any

from lanterna.codehost import CodeHost


def tenant_client() -> Any:
    from lanterna_github_pat.api import GitHub

    return GitHub.for_current_tenant()


HOST = CodeHost(
    name="github",
    label="GitHub",
    client=tenant_client,
    default_base_url="https://api.github.com",
    token_env=("GITHUB_TOKEN", "GH_TOKEN"),
    help="Read GitHub: token check, repositories, files, code search, pull requests, issues.",
    repos_help="Repositories the token can see, most recently updated first.",
    repo_help="The repository, OWNER/REPO.",
    search_syntax="GitHub code search syntax",
)
