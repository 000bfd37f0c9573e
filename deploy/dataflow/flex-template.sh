#!/usr/bin/env bash
# newsbeam on Dataflow: build the Flex Template, run, update in place, drain, cancel.
#
#   deploy/dataflow/flex-template.sh image     # build and push the image (Cloud Build)
#   deploy/dataflow/flex-template.sh build     # write the template spec to $TEMPLATE
#   deploy/dataflow/flex-template.sh run       # start the streaming job $JOB_NAME
#   deploy/dataflow/flex-template.sh update [Old=New,...]   # replace it, keeping its state
#   deploy/dataflow/flex-template.sh drain     # finish in-flight work, commit offsets, stop
#   deploy/dataflow/flex-template.sh cancel    # stop now (state is dropped)
#
# Override any variable from the environment, e.g. IMAGE=... deploy/dataflow/flex-template.sh build
# The job's flags and template parameters are in deploy/dataflow/job-flags.yaml.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PROJECT="${PROJECT:-newsbeam-prod}"
REGION="${REGION:-europe-west1}"
VERSION="${VERSION:-0.1.0}"
IMAGE="${IMAGE:-europe-west1-docker.pkg.dev/newsbeam-prod/newsbeam/newsbeam:${VERSION}}"
TEMPLATE="${TEMPLATE:-gs://newsbeam-templates/newsbeam-${VERSION}.json}"
JOB_NAME="${JOB_NAME:-newsbeam}"
FLAGS_FILE="${FLAGS_FILE:-$HERE/job-flags.yaml}"

job_id() {
  gcloud dataflow jobs list --project="$PROJECT" --region="$REGION" --status=active \
    --filter="name=$JOB_NAME" --format="value(id)" --limit=1
}

case "${1:-}" in
  image)
    # Cloud Build runs `docker build -f deploy/Dockerfile .` from the repository root.
    gcloud builds submit "$ROOT" --project="$PROJECT" --region="$REGION" \
      --config="$HERE/cloudbuild.yaml" --substitutions="_IMAGE=$IMAGE"
    ;;
  build)
    gcloud dataflow flex-template build "$TEMPLATE" --project="$PROJECT" \
      --image="$IMAGE" --sdk-language=PYTHON --metadata-file="$HERE/metadata.json"
    ;;
  run)
    gcloud dataflow flex-template run "$JOB_NAME" --project="$PROJECT" \
      --flags-file="$FLAGS_FILE"
    ;;
  update)
    # Same job name, --update: Dataflow checks compatibility (step names, state coders),
    # then moves the running job's state and Kafka restrictions to the new one.
    # A renamed step needs a mapping: update 'ProcessArticles/OldName=ProcessArticles/NewName'
    mappings=()
    if [[ -n "${2:-}" ]]; then mappings=(--transform-name-mappings="$2"); fi
    gcloud dataflow flex-template run "$JOB_NAME" --project="$PROJECT" \
      --flags-file="$FLAGS_FILE" --update "${mappings[@]}"
    ;;
  drain)
    gcloud dataflow jobs drain "$(job_id)" --project="$PROJECT" --region="$REGION"
    ;;
  cancel)
    gcloud dataflow jobs cancel "$(job_id)" --project="$PROJECT" --region="$REGION"
    ;;
  *)
    sed -n '2,13p' "$0" >&2
    exit 2
    ;;
esac
