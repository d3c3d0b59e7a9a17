"""The code the pipeline and the jobs run: a workspace folder Terraform creates, with its ACL, and the files in it."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from infra.bundle import bundle_files
from infra.cdk import Construct, TerraformAsset, databricks
from infra.config import EnvironmentConfig
from infra.runtime_deps import INIT_SCRIPT_PATH
from infra.stacks.common import logical_id, workspace_api_path


class CodeBundle(Construct):
    """`root` (a /Workspace path: the pipeline's root_path), one `databricks_workspace_file` per bundle file, and
    optionally a generated init script.

    The folder is created here (not implicitly by the first upload) so its ACL (`folder` handle, permissioned by the
    stack from WORKSPACE_ACLS[CODE_FOLDER]) is Terraform's: admins manage, the pipeline principal reads, nobody else
    edits. Under /Workspace/Shared every user could edit code that runs as the privileged pipeline principal
    (config validation refuses that folder). `digest` changes whenever any shipped byte changes; continuous jobs
    carry it so a code deploy restarts them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        env: EnvironmentConfig,
        repo_root: Path,
        init_script: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.root = env.workspace_root
        # The folder the files live in; deleting it with the stack removes the code too.
        self.folder = databricks.directory.Directory(
            self, "code_folder", path=workspace_api_path(self.root), delete_recursive=True
        )
        self.files: dict[str, databricks.workspace_file.WorkspaceFile] = {}
        digest = hashlib.sha256()
        for bundle_file in bundle_files(repo_root):
            # Copies the file into the stack's assets/ folder; the path in the JSON is relative and content-addressed.
            asset = TerraformAsset(
                self,
                logical_id("asset", bundle_file.relative_path),
                path=str(repo_root / bundle_file.relative_path),
                asset_hash=bundle_file.md5,
            )
            # One workspace file per bundle file; its md5 makes Terraform re-upload exactly the files that changed.
            self.files[bundle_file.relative_path] = databricks.workspace_file.WorkspaceFile(
                self,
                logical_id("file", bundle_file.relative_path),
                path=workspace_api_path(bundle_file.workspace_path(self.root)),
                source=asset.path,
                md5=bundle_file.md5,
                depends_on=[self.folder],
            )
            digest.update(f"{bundle_file.relative_path}\0{bundle_file.md5}\n".encode())
        self.init_script_path: str | None = None
        if init_script is not None:
            content = init_script.encode("utf-8")
            self.init_script_path = f"{self.root}/{INIT_SCRIPT_PATH}"
            # Generated at synth from the pins in requirements.txt (infra.runtime_deps.init_script), never kept in git.
            self.files[INIT_SCRIPT_PATH] = databricks.workspace_file.WorkspaceFile(
                self,
                logical_id("file", INIT_SCRIPT_PATH),
                path=workspace_api_path(self.init_script_path),
                content_base64=base64.b64encode(content).decode("ascii"),
                depends_on=[self.folder],
            )
            digest.update(content)
        self.digest = digest.hexdigest()[:16]
