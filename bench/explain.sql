-- The statements behind W1-W3 (as ent and internal/loader send them), for EXPLAIN on a
-- seeded database: `psql -f bench/explain.sql` after `inkwell seed --size L`.
-- None may show a Seq Scan on a large table.
\set viewer 42
\set article 4242
\pset pager off

-- W1: the home feed page (keyset, most recently published first), ids only.
EXPLAIN (COSTS OFF) SELECT id FROM articles
 WHERE author_id IN (SELECT followee_id FROM follows WHERE follower_id = :viewer)
   AND status = 'published'
 ORDER BY published_at DESC, id DESC LIMIT 21;

-- W1/W2: authors, batched.
EXPLAIN (COSTS OFF) SELECT * FROM users WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10);

-- W1/W2: tags of a page of articles.
EXPLAIN (COSTS OFF) SELECT at.article_id, t.id, t.name, t.articles_count, t.created_at
  FROM article_tags at JOIN tags t ON t.id = at.tag_id
 WHERE at.article_id = ANY('{1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20}'::bigint[])
 ORDER BY at.article_id, t.name;

-- W1: viewerHasFavorited for a page.
EXPLAIN (COSTS OFF) SELECT article_id FROM favorites
 WHERE user_id = :viewer AND article_id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10);

-- W1/W2: the first comments of each article of a page, one LATERAL query.
EXPLAIN (COSTS OFF) SELECT c.* FROM unnest('{1,2,3,4,5,6,7,8,9,10}'::bigint[]) AS p(id)
 CROSS JOIN LATERAL (SELECT * FROM comments c WHERE c.article_id = p.id
                     ORDER BY c.created_at, c.id LIMIT 4) c;

-- W2: the article by slug.
EXPLAIN (COSTS OFF) SELECT * FROM articles WHERE slug = (SELECT slug FROM articles WHERE id = :article);

-- W3: the most used tags, from the kept count.
EXPLAIN (COSTS OFF) SELECT * FROM tags WHERE articles_count > 0
 ORDER BY articles_count DESC, name LIMIT 20;

-- Articles with a tag, most recently published first (Query.articles(filter: {tag})).
EXPLAIN (COSTS OFF) SELECT id, published_at FROM articles a
 WHERE EXISTS (SELECT 1 FROM article_tags at JOIN tags t ON t.id = at.tag_id
               WHERE at.article_id = a.id AND t.name = 'topic0042')
   AND status = 'published'
 ORDER BY published_at DESC, id DESC LIMIT 21;
