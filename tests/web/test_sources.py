"""The Sources panel and citation links (rag.web.sources), with the real packaged MiniLM marking
the evidence: supporting sentences marked, cited sources flagged, and the HTML stays inert."""

from html.parser import HTMLParser

from rag.review.evidence import find_evidence, index_hits
from rag.types import Chunk, Hit, Mark
from rag.web.render import chat_markdown
from rag.web.sources import link_citations, marked_text, sources_html, unlink_citations

QUOKKA = (
    "The observatory opens at seven in the morning. Visitors keep to the boardwalk. "
    "The quokka protocol listens on port 7341 for telemetry from the hides. Dogs are not allowed."
)
HOSTILE = (
    'Herons nest in trees. <script>alert("x")</script><img src="http://evil/x.png" onerror="steal()"> End.'
)
VIEWER_ATTRIBUTES = {"href", "data-doc", "data-page", "data-section"}  # what the viewer is asked for
HITS = [Hit(1, 0.7, Chunk("a", "guide.pdf", 2, 0, QUOKKA)), Hit(2, 0.3, Chunk("b", "x.html", 0, 1, HOSTILE))]


def marked(html_text: str) -> list[str]:
    found: list[str] = []

    class Marks(HTMLParser):
        inside = False

        def handle_starttag(self, tag, attrs):
            self.inside = self.inside or tag == "mark"
            if tag == "mark":
                found.append("")

        def handle_endtag(self, tag):
            self.inside = self.inside and tag != "mark"

        def handle_data(self, data):
            if self.inside:
                found[-1] += data

    Marks().feed(html_text)
    return found


def test_the_marked_sentence_and_the_cited_source_show_in_the_panel(embedder):
    marks = find_evidence("Which port does the quokka protocol use?", index_hits(HITS, embedder), embedder)
    page = sources_html(HITS, "Searched for: port", marks, cited=[1])
    assert "The quokka protocol listens on port 7341 for telemetry from the hides." in marked(page)
    assert 'id="rag-source-1"' in page and 'class="rag-source rag-cited"' in page
    assert page.startswith('<p class="rag-query">Searched for: port</p>')
    assert 'class="rag-source rag-cited" id="rag-source-2"' not in page  # only what the answer cites


def test_no_hits_is_said_in_words():
    assert "No chunks retrieved yet." in sources_html([])


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.links: set[str] = set()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)
        self.links.update(value for name, value in attrs if name == "href")
        self.values.update(attrs)


def test_markup_inside_documents_stays_text(embedder):
    marks = find_evidence("Where do herons nest?", index_hits(HITS, embedder), embedder)
    page = sources_html(HITS, marks=marks)
    parser = Tags()
    parser.feed(page)
    assert parser.tags <= {"div", "b", "span", "pre", "mark", "p", "a"}
    assert parser.attributes <= {"class", "id", "data-rank", "title", *VIEWER_ATTRIBUTES}
    assert parser.links == {"#viewer"}  # "open the original": a click the viewer's script handles
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page and "http://evil" in page  # as text


def test_a_section_name_stays_inside_its_attribute():
    hostile = Hit(1, 0.5, Chunk("a" * 32, "x.html", 0, 0, "Text.", section='Intro" onclick="steal()'))
    parser = Tags()
    parser.feed(sources_html([hostile]))
    assert "onclick" not in parser.attributes
    assert parser.values["data-section"] == 'Intro" onclick="steal()'
    assert parser.values["data-doc"] == "a" * 32


def test_marked_text_escapes_inside_and_outside_marks():
    text = "a <b>bold</b> claim & more"
    out = marked_text(text, [Mark(2, 13, 0.9, "question")])
    assert out.startswith('a <mark class="rag-mark rag-by-question"')
    assert "&lt;b&gt;bold&lt;/b&gt;</mark> claim &amp; more" in out


def test_citations_link_to_their_source_and_missing_ones_are_struck_through():
    answer = chat_markdown('Port 7341 [1]. Both [1, 2]. Not [3]. <img src="x"> A link [4](http://x) stays.')
    out = link_citations(answer, ranks=[1, 2])
    assert "Port 7341 [\\[1\\]](#rag-source-1)." in out
    assert "Both [\\[1\\]](#rag-source-1) [\\[2\\]](#rag-source-2)." in out
    assert "Not ~~\\[3\\]~~ _(no source 3)_." in out
    assert "[4](http://x)" in out and "<" not in out


def test_linked_citations_come_back_as_plain_citations():
    answer = "Port 7341 [1]. Not [3]. A link [4](http://x) stays. Both [2][1]."
    linked = link_citations(answer, ranks=[1, 2])
    assert linked != answer and unlink_citations(linked) == answer
    assert unlink_citations(link_citations("Both [1, 2].", [1, 2])) == "Both [1] [2]."


def test_show_in_context_expands_a_source_with_its_neighbours_as_text(embedder):
    before = Chunk("b", "x.html", 0, 0, "Herons fly south. <b>Ducks</b> stay.")
    after = Chunk("b", "x.html", 0, 2, "Egrets wade in shallow water.")
    context = {
        HITS[1].chunk.position: [before, HITS[1].chunk, after],
        HITS[0].chunk.position: [HITS[0].chunk],
    }
    page = sources_html(HITS, context=context)
    parser = Tags()
    parser.feed(page)
    assert parser.tags <= {"div", "b", "span", "pre", "mark", "p", "details", "summary", "a"}
    assert parser.attributes <= {"class", "id", "data-rank", "title", *VIEWER_ATTRIBUTES}
    assert page.count("Show in context") == 1  # source 1 has no neighbours: nothing to expand
    expanded = page[page.index("<details") :]
    assert expanded.index("Herons fly south") < expanded.index("this chunk") < expanded.index("Egrets wade")
    assert "&lt;b&gt;Ducks&lt;/b&gt;" in expanded and "chunk 0" in expanded and "chunk 2" in expanded
