def test_pg(engine):
    import sqlalchemy as sa
    with engine.connect() as c:
        print(c.execute(sa.text("select count(*) from catalog_entities")).scalar())
