#!/usr/bin/env python3
"""Writes fuzz/seeds/<target>/ from the documented provider answers in tests/fixtures/shared/.

Each provider seed is one byte (which of the harness's Secrets, `src/fuzzing.rs` cases) followed by
the provider's answers in order, each `HTTP/1.1 STATUS`, header lines, an empty line and the body,
separated by a line `~~~`. Run from the repository root: python3 fuzz/tools/make_seeds.py
"""
import ast
import json
import os
import re

FIX = "tests/fixtures/shared"
OUT = "fuzz/seeds"
SEP = "\n~~~\n"


def fixture(name):
    with open(os.path.join(FIX, name), encoding="utf-8") as f:
        return f.read()


def answer(status, headers=(), body=""):
    head = "".join(f"{k}: {v}\n" for k, v in headers)
    return f"HTTP/1.1 {status} X\n{head}\n{body}"


def replay(name):
    """A PyGithub replay file: the recorded answer (status, headers, body)."""
    lines = fixture(name).split("\n")
    status = int(lines[7])
    headers = [(k, v) for k, v in ast.literal_eval(lines[8]) if k.lower() != "content-encoding"]
    return answer(status, headers, lines[9])


def raw_http(name):
    """A `curl -i` capture: a command line, the status line, headers, an empty line, a body."""
    text = fixture(name)
    text = text[text.index("HTTP/"):]
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    status = int(lines[0].split()[1])
    headers = [tuple(l.split(": ", 1)) for l in lines[1:] if ": " in l]
    return answer(status, headers, body)


JSON = [("content-type", "application/json; charset=utf-8")]


def write(target, name, pick, answers):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(bytes([pick]) + SEP.join(answers).encode())


def main():
    gh_user = replay("github-get-user-classic-pat-with-expiry.pygithub-replay.txt")
    gh_repo_pull = replay("github-get-repo-classic-pat-pull-only.pygithub-replay.txt")
    gh_fg = replay("github-get-repo-fine-grained-pat.pygithub-replay.txt")
    gh_fg_push = replay("github-get-repo-fine-grained-pat-tzoffset-expiry-push-only.pygithub-replay.txt")
    gh_app_user = replay("github-get-user-app-user-to-server-token.pygithub-replay.txt")
    gh_401 = answer(401, JSON, fixture("github-401-bad-credentials-current.json"))
    gh_401_old = replay("github-get-user-401-bad-credentials-2012.pygithub-replay.txt")
    gh_perms = answer(200, JSON, fixture("github-get-repo-permissions.octokit-raw.json"))
    gh_root = answer(200, JSON + [("x-oauth-scopes", "repo, workflow")], fixture("github-get-root-classic-pat-scopes.octokit-raw.json"))
    gh_limited = answer(403, JSON + [("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "4102444800")],
                        '{"message":"API rate limit exceeded"}')
    gh_logins = answer(403, JSON, '{"message":"Maximum number of login attempts exceeded. Please try again later."}')
    gh_installation = answer(200, JSON, json.dumps({
        "id": 99, "app_id": 4242, "target_type": "Organization", "account": {"login": "acme"},
        "repository_selection": "selected",
        "permissions": {"contents": "write", "metadata": "read", "pull_requests": "write"}}))
    gh_repos = answer(200, JSON, json.dumps({"total_count": 1, "repositories": [{"full_name": "acme/app"}]}))
    gh_list = answer(200, JSON, "[]")
    gh_404 = answer(404, JSON, '{"message":"Not Found"}')
    # Reference §1.8: the answers to the requests built to be refused.
    gh_not_accessible = answer(403, JSON + [("x-accepted-github-permissions", "repository_hooks=write")],
                               '{"message":"Resource not accessible by personal access token","status":"403"}')
    gh_integration = answer(403, JSON, '{"message":"Resource not accessible by integration","status":"403"}')
    gh_validation = answer(422, JSON, '{"message":"Validation Failed","status":"422"}')
    gh_accepted = answer(201, JSON, '{"id":1}')
    # GET /user for a fine-grained token: no X-OAuth-Scopes; an expiry in the offset form (§1.3).
    gh_fg_user = answer(200, JSON + [("github-authentication-token-expiration", "2099-03-31 00:00:00 +0900")],
                        '{"login":"gitops-bot","id":1,"type":"User"}')
    # The runtime seeds answer, in the order a judgement asks when every answer comes at once: GET
    # /user; the hooks listing, then at once the request built to be refused that waits for it; the
    # Administration read and write, Contents read and write (the Git advertisement), and Metadata.
    # The harness's GitHub Secrets, in order (src/fuzzing/mod.rs `cases`).
    CLASSIC, FINE_WRITE, INSTALLATION, OAUTH, APP, FINE_RUNTIME = range(6)
    for name, pick, answers in [
        ("classic-with-expiry", CLASSIC, [gh_user, gh_repo_pull, gh_list]),
        ("fine-grained", FINE_WRITE, [gh_user, gh_fg, gh_list, gh_404]),
        ("fine-grained-push-only", FINE_WRITE, [gh_user, gh_fg_push, gh_fg_push, gh_404]),
        ("app-user", OAUTH, [gh_app_user, gh_perms]),
        ("root-scopes", OAUTH, [gh_root, gh_perms, gh_list]),
        ("bad-credentials", CLASSIC, [gh_401]),
        ("bad-credentials-2012", INSTALLATION, [gh_401_old]),
        ("rate-limited", FINE_WRITE, [gh_limited]),
        ("login-attempts", CLASSIC, [gh_logins]),
        ("app-installation", APP, [gh_installation, gh_repos, gh_perms, gh_list]),
        ("server-error", CLASSIC, [answer(502, [("content-type", "text/html")], "<html>bad gateway</html>")]),
        ("runtime-refusals-write", FINE_RUNTIME,
         [gh_fg_user, gh_list, gh_404, gh_list, gh_list, gh_list, gh_fg, gh_fg]),
        ("runtime-refusals-read-only", FINE_RUNTIME,
         [gh_fg_user, gh_list, gh_not_accessible, gh_list, gh_list, gh_list, gh_fg, gh_fg]),
        ("runtime-refusals-integration", FINE_RUNTIME,
         [gh_fg_user, gh_list, gh_integration, gh_list, gh_list, gh_list, gh_fg, gh_fg]),
        ("runtime-refusals-accepted", FINE_RUNTIME,
         [gh_fg_user, gh_list, gh_accepted, gh_list, gh_list, gh_list, gh_fg, gh_fg]),
        ("runtime-refusals-validation", FINE_RUNTIME,
         [gh_fg_user, gh_list, gh_validation, gh_list, gh_list, gh_list, gh_fg, gh_fg]),
        ("runtime-refusals-rate-limited", FINE_RUNTIME,
         [gh_fg_user, gh_list, gh_limited, gh_list, gh_list, gh_list, gh_fg, gh_fg]),
    ]:
        write("github", name, pick, answers)

    gl_self = answer(200, JSON, fixture("gitlab-docs-get-personal-access-token-self.json"))
    gl_user = answer(200, JSON, fixture("gitlab-docs-get-current-user-regular.json"))
    gl_project = answer(200, JSON, json.dumps({
        "id": 3, "path_with_namespace": "group/sub/project",
        "permissions": {"project_access": {"access_level": 30}, "group_access": {"access_level": 40}}}))
    gl_rotate = answer(200, JSON, fixture("gitlab-docs-rotate-personal-access-token-self.json"))
    for i, (name, answers) in enumerate([
        ("personal", [gl_self, gl_user, gl_project]),
        ("personal-rotated", [gl_rotate, gl_user, gl_project]),
        ("expired", [answer(401, JSON, fixture("gitlab-401-invalid-token-expired.json"))]),
        ("revoked", [answer(401, JSON, fixture("gitlab-401-invalid-token-revoked.json"))]),
        ("unauthorized", [answer(401, JSON, fixture("gitlab-401-unauthorized.json"))]),
        ("insufficient-scope", [answer(403, JSON, fixture("gitlab-403-insufficient-scope.json")), gl_user, gl_project]),
        ("deploy-token-git", [answer(200, [("content-type", "application/x-git-upload-pack-advertisement")], "001e# service=git-upload-pack\n0000"),
                              answer(401, [("www-authenticate", 'Basic realm="GitLab"')], "HTTP Basic: Access denied")]),
        ("rate-limited", [answer(429, [("retry-after", "30"), ("ratelimit-remaining", "0")], "Retry later")]),
    ]):
        write("gitlab", name, i, answers)

    bc_user = answer(200, JSON + [("x-oauth-scopes", "repository:write, account")], fixture("bitbucket-cloud-get-user.go-scm.json"))
    bc_head = raw_http("bitbucket-cloud-head-repositories-repo-access-token.atlassian-kb.http")
    for i, (name, answers) in enumerate([
        ("app-password-read", [bc_user, answer(200, JSON, fixture("bitbucket-cloud-user-repo-permission-read.go-scm.json"))]),
        ("access-token-write", [bc_head, answer(200, JSON, fixture("bitbucket-cloud-user-repo-permission-write.go-scm.json"))]),
        ("admin", [bc_user, answer(200, JSON, fixture("bitbucket-cloud-user-repo-permission-admin.go-scm.json"))]),
        ("empty", [bc_user, answer(200, JSON, fixture("bitbucket-cloud-user-repo-permission-empty.go-scm.json"))]),
        ("unauthorized", [answer(401, JSON, '{"type":"error","error":{"message":"Unauthorized"}}')]),
    ]):
        write("bitbucket_cloud", name, i, answers)

    bs_props = answer(200, JSON + [("x-ausername", "svc")], json.dumps({"version": "8.19.1", "buildNumber": "8019001", "displayName": "Bitbucket"}))
    bs_user = answer(200, JSON + [("x-ausername", "svc"), ("x-auserid", "12")], fixture("bitbucket-server-get-user.go-scm.json"))
    bs_repos = answer(200, JSON, json.dumps({"size": 1, "limit": 25, "isLastPage": True, "start": 0,
                                             "values": [{"slug": "repo", "project": {"key": "PRJ"}}]}))
    bs_error = answer(404, JSON, fixture("bitbucket-server-error-body.go-scm.json"))
    bs_tokens = answer(200, JSON, fixture("bitbucket-server-list-user-access-tokens.atlassian-kb.json"))
    for i, (name, answers) in enumerate([
        ("http-access-token", [bs_props, bs_user, bs_repos, bs_repos]),
        ("bearer-error", [bs_props, bs_error]),
        ("tokens-listed", [bs_props, bs_user, bs_tokens, bs_repos]),
        ("unauthorized", [answer(401, JSON, '{"errors":[{"message":"Authentication failed. Please check your credentials and try again."}]}')]),
    ]):
        write("bitbucket_server", name, i, answers)

    # Gitea and Forgejo (the shared reference's section 11).
    scope = lambda s: answer(403, [("content-type", "application/json;charset=utf-8")],
                             json.dumps({"message": f"token does not have at least one of required scope(s): [{s}]",
                                         "url": "https://gitea.corp/api/swagger"}))
    gt_user = answer(200, JSON, json.dumps({"id": 7, "login": "gitops-bot", "full_name": "", "email": "bot@example.com", "is_admin": False}))
    gt_tokens = answer(200, JSON, json.dumps([{"id": 2, "name": "argocd", "scopes": ["write:repository", "read:user"], "token_last_eight": "0000f001", "repositories": None}]))
    gt_repo = answer(200, JSON, json.dumps({"full_name": "platform/gitops", "permissions": {"admin": False, "push": True, "pull": True}}))
    gt_receive = answer(200, [("content-type", "application/x-git-receive-pack-advertisement")], "001f# service=git-receive-pack\n0000")
    for i, (name, answers) in enumerate([
        ("read", [gt_user, gt_tokens, gt_repo]),
        ("write", [gt_user, answer(401, JSON, '{"message":"auth required"}'), gt_repo, gt_receive]),
        ("template-hooks", [gt_user, gt_tokens, gt_repo, answer(200, JSON, "[]"), gt_receive]),
        ("no-read-user", [scope("read:user"), gt_repo, answer(403, [("content-type", "text/plain; charset=utf-8")], "Forbidden\n")]),
        ("no-read-repository", [gt_user, gt_tokens, scope("read:repository")]),
        ("unknown-token", [answer(401, JSON, '{"message":"user does not exist [uid: 0, name: ]"}')]),
    ]):
        write("gitea", name, i, answers)

    # Azure DevOps (section 10).
    az_id = answer(200, JSON, json.dumps({"authenticatedUser": {"id": "6a1b", "providerDisplayName": "GitOps Bot", "isActive": True,
                                                                "properties": {"Account": {"$type": "System.String", "$value": "bot@acme.example"}}}}))
    az_upload = answer(200, [("content-type", "application/x-git-upload-pack-advertisement")], "001e# service=git-upload-pack\n0000")
    az_tf = answer(403, [("content-type", "application/x-git-receive-pack-advertisement")],
                   "001f# service=git-receive-pack\n0000TF401027: You need the Git 'GenericContribute' permission to perform this action.\n0000")
    az_sign_in = answer(203, [("content-type", "text/html; charset=utf-8")], "<html><head><title>Azure DevOps Services | Sign In</title></head></html>")
    for i, (name, answers) in enumerate([
        ("read", [az_id, az_upload]),
        ("write-refused", [az_id, az_upload, az_tf]),
        ("sign-in", [az_sign_in]),
        ("expired", [answer(401, [], "Access Denied: The Personal Access Token used has expired.")]),
        ("code-only", [answer(401, [("www-authenticate", 'Basic realm="https://dev.azure.com/"')], ""), answer(401, [], "")]),
    ]):
        write("azure_devops", name, i, answers)

    os.makedirs(os.path.join(OUT, "config"), exist_ok=True)
    for f in ["deploy/config.yaml", "examples/config.yaml"]:
        if os.path.exists(f):
            with open(f, "rb") as src, open(os.path.join(OUT, "config", os.path.basename(os.path.dirname(f)) + ".yaml"), "wb") as dst:
                dst.write(src.read())
    with open(os.path.join(OUT, "config", "everything.yaml"), "w") as f:
        f.write(
            "mode: warn\nonProviderError: allow\nproviderTimeout: 3s\nexpiryWarningDays: 14\n"
            "excessPrivileges: deny\nserviceAccounts: [bot]\nsharedConfigurationRepo: https://github.com/acme/isc.git\n"
            "cache: {ttl: 5m, negativeTtl: 30s, maxEntries: 1000, staleIfError: 1h}\n"
            "providerConcurrency: 8\ncircuitBreaker: {failureThreshold: 5, cooldown: 30s}\n"
            "server: {maxConnections: 64, handshakeTimeout: 2s, headerTimeout: 2s, idleTimeout: 30s,"
            " maxConcurrentStreams: 16, invalidTokenBudget: {perMinute: 5, burst: 10}}\n"
            "providers:\n  - kind: gitlab\n    host: gitlab.corp:8443\n    apiUrl: https://gitlab.corp:8443/api/v4\n"
            "    proxy: http://user:pw@proxy.corp:3128\n")

    os.makedirs(os.path.join(OUT, "url_and_host"), exist_ok=True)
    for i, u in enumerate([
        "https://github.com/argoproj/argocd-example-apps.git", "git@github.com:acme/app.git",
        "ssh://git@gitlab.corp:2222/group/sub/project.git", "https://bitbucket.corp:8443/scm/prj/repo.git",
        "https://user:pw@gitlab.corp/gitlab/group/../../x", "github.com/acme", "https://GitHub.COM./Acme/App",
        "https://dev.azure.com/org/project/_git/repo", "oci://ghcr.io/acme/charts",
    ]):
        with open(os.path.join(OUT, "url_and_host", f"url-{i}"), "w") as f:
            f.write(u)


if __name__ == "__main__":
    main()
